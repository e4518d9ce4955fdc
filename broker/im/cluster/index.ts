export type { ImCluster, ImEmitter, MembershipSource } from './im-cluster.js'
export { MembershipSync, MEMBERSHIP_TOPIC } from './membership-sync.js'
export { ClusterPresence } from './cluster-presence.js'
export { RedisImCluster, type RedisImClusterOptions } from './redis-im-cluster.js'
