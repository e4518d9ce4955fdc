export { callPageRoutes } from './call-routes.js'
export type { CallPageOptions, WebRoute } from './call-routes.js'
