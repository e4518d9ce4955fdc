export { AdminServer, type AdminServerOptions, type AdminRequest, type AdminResponse } from './admin-server.js'
export { runAdminOp, adminOps, type AdminContext, type AdminOp, type UserSummary, type UnlockSummary } from './admin-ops.js'

/** The admin socket's file name inside the data directory. */
export const ADMIN_SOCKET = 'admin.sock'
export { runOfflineAdminOp, type OfflineAdminOptions } from './offline-admin.js'
export { runRedisAdminOp } from './redis-admin.js'
export { withShortSocketPath } from './short-socket-path.js'
