import { ImError } from '../errors.js'

export { ImError }

export const notMember = (conv: string): ImError =>
  new ImError('HAIL_ERR_NOT_MEMBER', `you are not a member of ${conv}`)

export const forbidden = (what: string): ImError =>
  new ImError('HAIL_ERR_FORBIDDEN', what)

export const notFound = (what: string): ImError =>
  new ImError('HAIL_ERR_NOT_FOUND', what)
