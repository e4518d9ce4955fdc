export { checkLevelDir, listLevelFiles, type Damage, type LevelDirCheck, type LevelFiles } from './check-level-dir.js'
export { DataSeal, SEAL_FILE, SEAL_KEY, type SealState } from './data-seal.js'
export { openLevelDir, type OpenLevelDirOptions, type OpenedLevelDir } from './open-level-dir.js'
