/** One thing found wrong with a file of the database. */
export interface Damage {
  /** The file's name in the data directory. */
  file: string
  what: string
}

/** Write batches #from to #to (and their writes) that the write-ahead log lacks. */
export interface SealGap {
  file: string
  from: number
  to: number
  writes: number
}
