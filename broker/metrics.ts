import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * The broker's Prometheus metrics, in a registry of its own so that two
 * servers in one process never share (or double-register) a metric.
 */
export class Metrics {
  readonly registry = new Registry()

  /** A configured limit was hit; `limit` names it (maxPacketSize, maxQueue, ...). */
  readonly limitHits = new Counter({
    name: 'hail_limit_hits_total',
    help: 'Times a configured limit refused or dropped something',
    labelNames: ['limit'] as const,
    registers: [this.registry]
  })

  /** A PUBLISH or SUBSCRIBE refused by access control. */
  readonly aclDenied = new Counter({
    name: 'hail_acl_denied_total',
    help: 'Operations refused by access control',
    labelNames: ['action'] as const,
    registers: [this.registry]
  })

  /** A connection closed for breaking MQTT 3.1.1; `reason` is short and fixed. */
  readonly protocolErrors = new Counter({
    name: 'hail_protocol_errors_total',
    help: 'Connections closed for a malformed or non-conforming packet',
    labelNames: ['reason'] as const,
    registers: [this.registry]
  })

  /** What the gauges below read when the registry is collected; the server sets them once it runs. */
  readonly sources: {
    connectedClients: () => number
    publishesInFlight: () => number
    /** Bytes per listener kind (mqtt: TCP and TLS; http: HTTP, WebSocket and their TLS). */
    bytes: () => Array<{ listener: string, read: number, written: number }>
    /** Subscriptions held by connected clients. */
    subscriptions: () => number
    /** Retained messages stored (the backend sets it: see the gauge's help); undefined when the store did not answer. */
    retainedMessages: () => number | Promise<number | undefined>
    /** Packets in the outgoing queues of persistent sessions (the backend sets it); undefined when the store did not answer. */
    queuedPackets: () => number | Promise<number | undefined>
    /** Bytes held by the in-memory queues of deliveries to connected clients (live-outgoing.ts). */
    liveQueueBytes: () => number
  } = {
      connectedClients: () => 0,
      publishesInFlight: () => 0,
      bytes: () => [],
      subscriptions: () => 0,
      retainedMessages: () => 0,
      queuedPackets: () => 0,
      liveQueueBytes: () => 0
    }

  readonly bytesReceived = new Counter({
    name: 'hail_bytes_received_total',
    help: 'Bytes received on the listeners\' connections (MQTT, and HTTP with WebSocket)',
    labelNames: ['listener'] as const,
    registers: [this.registry],
    collect: () => { this.#collectBytes() }
  })

  readonly bytesSent = new Counter({
    name: 'hail_bytes_sent_total',
    help: 'Bytes sent on the listeners\' connections (MQTT, and HTTP with WebSocket)',
    labelNames: ['listener'] as const,
    registers: [this.registry],
    collect: () => { this.#collectBytes() }
  })

  readonly subscriptions = new Gauge({
    name: 'hail_subscriptions',
    help: 'Subscriptions held by connected clients',
    registers: [this.registry],
    collect: () => { this.subscriptions.set(this.sources.subscriptions()) }
  })

  // absent from /metrics when the store did not answer (Redis down), rather than a stale figure
  readonly retainedMessages = new Gauge({
    name: 'hail_retained_messages',
    help: 'Retained messages stored (one per topic); with Redis, every node reports the cluster\'s figure',
    registers: [this.registry],
    collect: async () => { setOrReset(this.retainedMessages, await this.sources.retainedMessages()) }
  })

  readonly queuedPackets = new Gauge({
    name: 'hail_queued_packets',
    help: 'Packets (QoS 1/2) held in the outgoing queues of persistent sessions, offline or unacknowledged; with Redis, every node reports the cluster\'s figure',
    registers: [this.registry],
    collect: async () => { setOrReset(this.queuedPackets, await this.sources.queuedPackets()) }
  })

  readonly liveQueueBytes = new Gauge({
    name: 'hail_live_queue_bytes',
    help: 'Bytes held in memory by deliveries sent to connected clients and not yet acknowledged (bounded by limits.maxLiveQueueBytes)',
    registers: [this.registry],
    collect: () => { this.liveQueueBytes.set(this.sources.liveQueueBytes()) }
  })

  /** IM requests handled, by topic kind (send, cmd, typing, file) and method, with how long each took. */
  readonly imRequestSeconds = new Histogram({
    name: 'hail_im_request_seconds',
    help: 'IM requests (im/send, im/cmd/{method}, im/typing, im/file) from arrival to answer, by kind and method, and whether refused',
    labelNames: ['kind', 'method', 'outcome'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry]
  })

  /** HTTP requests served on the HTTP listeners, by route and status class. */
  readonly httpRequests = new Counter({
    name: 'hail_http_requests_total',
    help: 'HTTP requests answered, by route (the path, or the route pattern) and status class (2xx ...)',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry]
  })

  #collectBytes (): void {
    const totals = new Map<string, { read: number, written: number }>()
    for (const { listener, read, written } of this.sources.bytes()) {
      const t = totals.get(listener) ?? { read: 0, written: 0 }
      t.read += read
      t.written += written
      totals.set(listener, t)
    }
    this.bytesReceived.reset()
    this.bytesSent.reset()
    for (const [listener, t] of totals) {
      this.bytesReceived.inc({ listener }, t.read)
      this.bytesSent.inc({ listener }, t.written)
    }
  }

  readonly connections = new Gauge({
    name: 'hail_connections',
    help: 'MQTT clients currently connected',
    registers: [this.registry],
    // Read at collection, so every reader of the registry (/metrics, the dashboard) sees the same figure.
    collect: () => { this.connections.set(this.sources.connectedClients()) }
  })

  readonly publishesInFlight = new Gauge({
    name: 'hail_publishes_in_flight',
    help: 'Publishes acknowledged (journaled) and not yet routed to their subscribers: the broker\'s backlog',
    registers: [this.registry],
    collect: () => { this.publishesInFlight.set(this.sources.publishesInFlight()) }
  })

  readonly connectionsTotal = new Counter({
    name: 'hail_connections_total',
    help: 'MQTT connections accepted by a listener',
    labelNames: ['transport'] as const,
    registers: [this.registry]
  })

  readonly authFailures = new Counter({
    name: 'hail_auth_failures_total',
    help: 'CONNECTs refused by authentication',
    registers: [this.registry]
  })

  /** CONNECTs closed without a CONNACK because the user store could not answer (mqtt/create-aedes.ts). */
  readonly storeUnavailableCloses = new Counter({
    name: 'hail_connect_store_unavailable_total',
    help: 'CONNECTs closed without CONNACK because the store could not check the login (the client retries)',
    registers: [this.registry]
  })

  /** Failed logins made an account or an address wait (users/login-guard.ts); `by` says which. */
  readonly loginLockouts = new Counter({
    name: 'hail_login_lockouts_total',
    help: 'Times failed logins made an account or a remote address wait before its next attempt',
    labelNames: ['by'] as const,
    registers: [this.registry]
  })

  readonly messagesIn = new Counter({
    name: 'hail_messages_in_total',
    help: 'PUBLISH packets accepted from clients',
    labelNames: ['qos'] as const,
    registers: [this.registry]
  })

  /** Deliveries to clients: each PUBLISH the broker sends, once per receiving client. */
  readonly messagesOut = new Counter({
    name: 'hail_messages_out_total',
    help: 'PUBLISH packets sent to clients (one per receiving client)',
    labelNames: ['qos'] as const,
    registers: [this.registry]
  })

  readonly journalBatchSize = new Histogram({
    name: 'hail_journal_batch_size',
    help: 'Writes carried by one synced (fsync) journal batch: the group-commit factor',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers: [this.registry]
  })

  readonly journalSyncSeconds = new Histogram({
    name: 'hail_journal_sync_seconds',
    help: 'Time one synced journal batch took to reach disk',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
    registers: [this.registry]
  })

  /** Push webhook POSTs the receiver accepted (2xx). */
  readonly pushSent = new Counter({
    name: 'hail_push_sent_total',
    help: 'Push notification batches the webhook accepted',
    registers: [this.registry]
  })

  /** Push batches given up after their last attempt, or refused by the webhook (4xx). */
  readonly pushFailed = new Counter({
    name: 'hail_push_failed_total',
    help: 'Push notification batches given up',
    registers: [this.registry]
  })

  /** Push POSTs that failed and were tried again. */
  readonly pushRetries = new Counter({
    name: 'hail_push_retries_total',
    help: 'Push webhook POSTs retried after a network error, 5xx or 429',
    registers: [this.registry]
  })

  /**
   * Push latency: from a batch's first notification (its message stored for
   * a user with no device online) to the webhook's final answer, so the
   * batching wait (push.batchMs), every POST and every retry's backoff count.
   */
  readonly pushDeliverySeconds = new Histogram({
    name: 'hail_push_delivery_seconds',
    help: 'Push batches from the first notification (message stored) to the webhook\'s final answer, batching and retries included, by outcome (sent, failed)',
    labelNames: ['outcome'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry]
  })

  /** Notifications dropped: the push queue was full, or the server closed before they went out. */
  readonly pushDropped = new Counter({
    name: 'hail_push_dropped_total',
    help: 'Push notifications dropped before they were sent',
    labelNames: ['reason'] as const,
    registers: [this.registry]
  })

  constructor () {
    collectDefaultMetrics({ register: this.registry, prefix: 'hail_' })
  }

  text (): Promise<string> {
    return this.registry.metrics()
  }

  get contentType (): string {
    return this.registry.contentType
  }
}

function setOrReset (gauge: Gauge, value: number | undefined): void {
  if (value === undefined) gauge.reset()
  else gauge.set(value)
}
