import os from 'node:os';
import { z } from 'zod';
import {
  bindAddressMessage, bool, int, oneOf, optionalBool, optionalInt, optionalStringList, parseBindAddress, str,
  stringList, stringType, urlWithScheme,
} from './fields.ts';

/**
 * The whole Hourglass configuration: the single place where every key, its description and its
 * default live. Keys are snake_case as in the seed deployment guide. Tables are strict: an unknown
 * key is an error (the loader reports it with a suggestion before zod sees it), except the
 * free-form tables `database.read_replicas`, `api.auth.api_keys` and `observability.log_fields`.
 */

export const PERMISSIONS = [
  'TaskRead', 'TaskWrite', 'TaskDelete', 'WorkerRead', 'WorkerWrite', 'SystemRead', 'SystemWrite', 'Admin',
] as const;
export const QUEUE_TYPES = ['postgres', 'redis_stream', 'rabbitmq'] as const;
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export const LOG_FORMATS = ['json', 'pretty'] as const;

const Pool = z
  .strictObject({
    max_connections: optionalInt('Pool size ceiling. Unset: database.max_connections.', 1),
    min_connections: optionalInt('Connections kept open when idle. Unset: database.min_connections.'),
    acquire_timeout_seconds: optionalInt('How long a query waits for a free connection. Unset: database.connection_timeout_seconds.', 1),
    max_lifetime_seconds: int(0, 'A connection is closed after this many seconds of use (0: never).'),
    idle_timeout_seconds: optionalInt('An idle connection above min_connections is closed after this. Unset: database.idle_timeout_seconds.'),
  })
  .prefault({})
  .describe('Connection pool; each key falls back to the matching [database] key.');

const Database = z
  .strictObject({
    url: urlWithScheme(['postgres:', 'postgresql:'], 'Postgres URL. Empty: the embedded PGlite database under ./data with the postgres queue (top-level alias: database_url).'),
    max_connections: int(10, 'Maximum open connections per process.', 1),
    min_connections: int(1, 'Connections kept open when idle; must not exceed max_connections.'),
    connection_timeout_seconds: int(30, 'Timeout for opening a connection.', 1),
    idle_timeout_seconds: int(600, 'An idle connection above min_connections is closed after this (0: never).'),
    statement_timeout_seconds: int(30, 'Postgres statement_timeout for every session (0: no limit).'),
    query_timeout_seconds: int(40, 'Client-side deadline of every database round trip, for a connection that died silently (a vanished host): the query fails and its connection is dropped; also the server-side idle_in_transaction_session_timeout. Keep it above statement_timeout_seconds (0: none).'),
    tcp_keepalive_seconds: int(10, 'Idle time before TCP keepalive probes start on every database connection (0: no keepalive).'),
    query_cache_size: int(0, 'Accepted for compatibility with the seed guide; has no effect (see NO_EFFECT_KEYS).'),
    read_only: bool(false, 'Accepted for compatibility with the seed guide; true has no effect (see NO_EFFECT_KEYS).'),
    read_replicas: z
      .record(z.string(), urlWithScheme(['postgres:', 'postgresql:'], 'Replica URL.'))
      .default({})
      .describe('Name -> Postgres URL of a read replica. Accepted; not used yet (see NO_EFFECT_KEYS).'),
    pool: Pool,
  })
  .transform((db) => ({
    ...db,
    // The effective pool settings: [database.pool] wins over [database], key by key.
    pool: {
      max_connections: db.pool.max_connections ?? db.max_connections,
      min_connections: db.pool.min_connections ?? db.min_connections,
      acquire_timeout_seconds: db.pool.acquire_timeout_seconds ?? db.connection_timeout_seconds,
      max_lifetime_seconds: db.pool.max_lifetime_seconds,
      idle_timeout_seconds: db.pool.idle_timeout_seconds ?? db.idle_timeout_seconds,
    },
  }))
  .prefault({})
  .describe('PostgreSQL: task definitions, run history, and the postgres queue.');

const Redis = z
  .strictObject({
    host: str('localhost', 'Redis host (used when message_queue.url is empty).'),
    port: int(6379, 'Redis port.', 1, 65535),
    database: int(0, 'Redis logical database number.'),
    password: str('', 'Redis password (secret; prefer REDIS_PASSWORD).'),
    connection_timeout_seconds: int(30, 'Timeout for connecting to Redis.', 1),
    max_stream_length: int(10000, 'Accepted for compatibility with the seed guide; has no effect (see NO_EFFECT_KEYS).'),
    consumer_group_size: int(0, 'Accepted for compatibility with the seed guide; has no effect (see NO_EFFECT_KEYS).'),
    read_timeout_seconds: int(5, 'XREADGROUP BLOCK time; bounds how fast a worker notices shutdown, not latency.', 1),
  })
  .prefault({})
  .describe('redis_stream queue settings.');

const Signing = z
  .strictObject({
    secret_key: str('', 'Ed25519 secret key (PEM, or base64 of PKCS#8 DER) the core signs run messages with; give it to the dispatcher and API only, never to workers (secret). Generate a pair as docs/brokers.md shows.'),
    secret_key_file: str('', 'File holding secret_key (read at start; wins over secret_key).'),
    public_key: str('', 'Ed25519 public key (PEM, or base64 of SPKI DER) workers verify run messages with. When set, a worker runs only signed messages.'),
    public_key_file: str('', 'File holding public_key (read at start; wins over public_key).'),
  })
  .prefault({})
  .describe('Signed run messages: with a broker, workers run only what the core signed (docs/brokers.md).');

const MessageQueue = z
  .strictObject({
    type: oneOf(QUEUE_TYPES, 'redis_stream', 'Queue backend. Forced to postgres when no database url is configured (embedded mode).'),
    url: urlWithScheme(['amqp:', 'amqps:', 'redis:', 'rediss:'], 'Broker URL: amqp(s):// for rabbitmq, redis(s):// for redis_stream (overrides [message_queue.redis] host/port). Unused by postgres.'),
    namespace: stringType().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'expected lower-case letters, digits, "_", "." and "-" (at most 63)').default('hourglass').describe('Prefix of every broker key and queue of this installation. Two installations on one Redis need different ones: each claims its namespace with its database\'s install id, and the second refuses to start.'),
    task_queue: str('tasks', 'Name (prefix) of the task queue/stream; one per pool is derived from it.'),
    status_queue: str('status_updates', 'Queue/stream carrying run status from workers to the core.'),
    heartbeat_queue: str('heartbeats', 'Queue/stream carrying worker heartbeats.'),
    max_retries: int(3, 'Accepted for compatibility with the seed guide; has no effect: run retries are per task (retry.limit) (see NO_EFFECT_KEYS).'),
    retry_delay_seconds: int(60, 'Accepted for compatibility with the seed guide; has no effect: retry delays are per task (retry.backoff) (see NO_EFFECT_KEYS).'),
    prefetch_count: int(10, 'RabbitMQ: the least prefetch of a worker (it also takes at least max_concurrent_tasks).', 1),
    consumer_timeout_seconds: int(60, 'redis_stream: a message delivered to a worker that died before claiming it goes to another worker after this. Any broker: a run queued this long while its pool\'s broker queue is empty was lost by the broker and is published again.', 1),
    publisher_confirms: bool(true, 'RabbitMQ publisher confirms; always on (false has no effect, see NO_EFFECT_KEYS).'),
    durable_queues: bool(true, 'RabbitMQ durable queues and persistent messages; always on (false has no effect, see NO_EFFECT_KEYS).'),
    redis: Redis,
    signing: Signing,
  })
  .prefault({})
  .describe('Transport between dispatcher and workers.');

const Dispatcher = z
  .strictObject({
    enabled: bool(true, 'Run the dispatcher in `scheduler --mode all`.'),
    schedule_interval_seconds: int(10, 'Safety-net resync of task definitions; fires themselves are timer-driven.', 1),
    max_concurrent_dispatches: int(1000, 'Most fires written to Postgres and handed to the queue in one batch when many schedules come due at once.', 1),
    worker_timeout_seconds: int(90, 'A worker silent this long is declared dead; must exceed worker.heartbeat_interval_seconds.', 1),
    fire_lead_ms: int(
      200,
      'How long before its time a fire of a task with concurrencyPolicy Allow and no dependsOn is written: the write is prepared that much ahead and committed at the fire\'s time, so a run starts one commit and one dequeue after it (docs/reliability.md, Fire lead). Edits of the task in that window wait for the commit. 0: every fire is written at its time. Not used on the embedded PGlite. At most a quarter of leader_lease_seconds.',
      0,
      2500,
    ),
    leader_lease_seconds: int(5, 'Lease of the dispatcher leader and of each fire partition: renewed every fifth of it; a holder that cannot renew for half of it stops acting on it; another dispatcher takes it over once it expired.', 2),
  })
  .prefault({})
  .describe('Schedules tasks and creates runs.');

export const defaultWorkerId = (): string => `${os.hostname()}-${process.pid}`;

const HttpEgress = z
  .strictObject({
    allow: stringList([], 'Destinations http tasks may reach although the rules below deny them: IP addresses or CIDR ranges (127.0.0.1, 10.1.0.0/16, ::1). Checked against every resolved address, redirects included.'),
    allow_private_networks: bool(false, 'Allow private addresses (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7). Loopback, link-local (cloud metadata) and unspecified addresses stay denied unless listed in allow.'),
  })
  .prefault({})
  .describe('Where http tasks may connect (docs/task-isolation.md).');

const Worker = z
  .strictObject({
    enabled: bool(false, 'Run a worker in `scheduler --mode all`.'),
    worker_id: stringType()
      .default('')
      .transform((id) => id || defaultWorkerId())
      .describe('Unique worker id. Empty: <hostname>-<pid> (top-level alias: worker_id).'),
    pool: str('default', 'WorkerPool whose queue this worker consumes.'),
    max_concurrent_tasks: int(5, 'Runs executed at once by this worker.', 1),
    supported_task_types: stringList(['shell', 'http', 'noop'], 'Task types (executors) this worker accepts.'),
    heartbeat_interval_seconds: int(30, 'Heartbeat period.', 1),
    task_poll_interval_seconds: int(1, 'Fallback poll period when no notification arrives.', 1),
    worker_memory_limit_mb: int(0, 'Accepted for compatibility with the seed guide; has no effect (see NO_EFFECT_KEYS).'),
    drain_timeout_seconds: int(60, 'On SIGTERM, time to finish held runs; runs still going then are stopped and reported failed ("interrupted by worker shutdown"), so they are retried.'),
    output_limit_kb: int(256, 'stdout+stderr (or HTTP body) kept per run; the rest is cut with a truncation marker.', 1),
    task_isolation: oneOf(['auto', 'namespace', 'userns', 'none'] as const, 'auto', 'How shell tasks are kept from the worker\'s secrets (docs/task-isolation.md). namespace: a PID namespace of their own as task_uid (needs root and util-linux; the worker refuses to start without). userns: namespace, or for a worker that is not root a user namespace (processes and timeouts isolated; the worker\'s files readable). auto: namespace when possible, else shell tasks are refused in staging/production and run in a user namespace or unisolated, with a warning, in development. none: unisolated (a task can read the worker\'s secrets).'),
    task_uid: int(65534, 'uid a namespaced shell task runs as (never 0).', 1, 2_147_483_646),
    task_gid: int(65534, 'gid a namespaced shell task runs as (never 0).', 1, 2_147_483_646),
    http_egress: HttpEgress,
  })
  .prefault({})
  .describe('Executes runs.');

const PermissionList = z.array(z.enum(PERMISSIONS, { error: (iss) => `expected one of ${PERMISSIONS.join(', ')}, got ${JSON.stringify(iss.input)}` }));

/** A key limited to some task types and pools: TaskWrite then means "http tasks in pool reports", not shell everywhere. */
const ScopedKey = z.strictObject({
  permissions: PermissionList,
  task_types: z.array(z.string().min(1)).min(1).optional().describe('task types this key may create, change, trigger or delete (absent: every type)'),
  pools: z.array(z.string().min(1)).min(1).optional().describe('pools whose tasks this key may create, change, trigger or delete (absent: every pool)'),
});

export const ApiKeysSchema = z
  .record(z.string().min(1, { error: 'an API key must not be empty' }), z.unknown().transform((grant, ctx) => {
    // a list is the plain form; choosing the schema by shape keeps the path of a bad entry precise (k[0], not k)
    const parsed = (Array.isArray(grant) ? PermissionList : ScopedKey).safeParse(grant);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path, input: grant });
    return z.NEVER;
  }))
  .default({})
  .describe('API key -> permissions, or {permissions, task_types, pools} to limit what its TaskWrite may touch (secret; prefer API_KEYS or api_keys_file).');

const Auth = z
  .strictObject({
    enabled: bool(true, 'Require a JWT or API key on /api. Staging and production refuse to start without it.'),
    jwt_secret: str('', 'HMAC secret for JWTs, at least 32 characters outside development (secret; prefer JWT_SECRET).'),
    jwt_expiration_hours: int(24, 'Lifetime of an access token from POST /api/auth/token or /api/auth/refresh.', 1),
    refresh_token_expiration_days: int(30, 'Lifetime of a refresh token from POST /api/auth/token.', 1),
    api_keys: ApiKeysSchema,
    api_keys_file: str('', 'JSON file of more API keys (the API_KEYS format), read at start and at every reload-config: a mounted Secret revokes a key without a restart. Empty: none.'),
  })
  .prefault({})
  .describe('Authentication.');

const RateLimiting = z
  .strictObject({
    enabled: bool(false, 'Per-client rate limit on /api.'),
    max_requests_per_minute: int(1000, 'Sustained requests per minute per client.', 1),
    burst_size: int(100, 'Requests allowed above the sustained rate in a burst.', 0),
  })
  .prefault({})
  .describe('Rate limiting (also settable under [api.security]; that one wins).');

const Security = z
  .strictObject({
    cors_enabled: optionalBool('Unset: api.cors_enabled.'),
    cors_origins: optionalStringList('Unset: api.cors_origins.'),
    cors_max_age_seconds: int(3600, 'Access-Control-Max-Age.'),
    rate_limiting_enabled: optionalBool('Unset: api.rate_limiting.enabled.'),
    max_requests_per_minute: optionalInt('Unset: api.rate_limiting.max_requests_per_minute.', 1),
    burst_size: optionalInt('Unset: api.rate_limiting.burst_size.'),
    max_request_size_mb: int(10, 'Largest request body accepted.', 1),
    max_json_payload_size_mb: int(5, 'Largest JSON body accepted.', 1),
  })
  .prefault({})
  .describe('Network security; the CORS and rate-limit keys here win over [api] and [api.rate_limiting].');

const Tls = z
  .strictObject({
    enabled: bool(false, 'Serve HTTPS.'),
    cert_file: str('', 'PEM certificate chain (required when enabled).'),
    key_file: str('', 'PEM private key (required when enabled).'),
    ca_file: str('', 'PEM CA bundle; when set, client certificates are requested and verified.'),
  })
  .prefault({})
  .describe('TLS for the API.');

const Api = z
  .strictObject({
    enabled: bool(true, 'Run the REST API in `scheduler --mode all`.'),
    bind_address: stringType()
      .refine((a) => { try { parseBindAddress(a); return true; } catch { return false; } }, { error: (iss) => bindAddressMessage(iss.input) })
      .default('127.0.0.1:8080')
      .describe('host:port the API listens on (0.0.0.0:8080 for all interfaces).'),
    cors_enabled: bool(true, 'Send CORS headers.'),
    cors_origins: stringList(['http://localhost:3000'], 'Allowed CORS origins.'),
    trusted_proxies: stringList([], 'Addresses or CIDRs of reverse proxies (nginx, an ingress) whose X-Forwarded-For names the client; the rate limit then counts per real client. Empty: the socket address is the client.'),
    metrics_require_auth: bool(false, 'Require a credential with SystemRead on /metrics (Prometheus sends it with authorization.credentials); off: /metrics is open like /health.'),
    request_timeout_seconds: int(30, 'A client must send its whole request (headers and body) within this; slow connections are cut.', 1),
    auth: Auth,
    rate_limiting: RateLimiting,
    security: Security,
    tls: Tls,
  })
  .transform((api) => {
    // One effective value per setting, so consumers read a single place: [api.security] wins.
    const s = api.security;
    const cors_enabled = s.cors_enabled ?? api.cors_enabled;
    // an unset ${FRONTEND_URL:-} leaves an empty entry: no origin, not the origin ""
    const cors_origins = (s.cors_origins ?? api.cors_origins).filter((origin) => origin !== '');
    const rate_limiting = {
      enabled: s.rate_limiting_enabled ?? api.rate_limiting.enabled,
      max_requests_per_minute: s.max_requests_per_minute ?? api.rate_limiting.max_requests_per_minute,
      burst_size: s.burst_size ?? api.rate_limiting.burst_size,
    };
    return {
      ...api,
      cors_enabled,
      cors_origins,
      rate_limiting,
      security: {
        ...s,
        cors_enabled,
        cors_origins,
        rate_limiting_enabled: rate_limiting.enabled,
        max_requests_per_minute: rate_limiting.max_requests_per_minute,
        burst_size: rate_limiting.burst_size,
      },
    };
  })
  .prefault({})
  .describe('REST API.');

const LogFields = z
  .object({
    service_name: str('hourglass', 'Added to every log line as service_name.'),
    service_version: str('', 'Added as service_version (empty: the package version).'),
    environment: str('', 'Added as environment (empty: the selected environment).'),
  })
  .catchall(stringType())
  .prefault({})
  .describe('Extra fields on every log line; any key is accepted.');

/** The known fields plus any free-form ones (zod's catchall does not show in the inferred type). */
export type LogFieldsOutput = { service_name: string; service_version: string; environment: string } & Record<string, string>;

const Observability = z
  .strictObject({
    log_level: oneOf(LOG_LEVELS, 'info', 'Minimum log level.'),
    log_format: oneOf(LOG_FORMATS, 'json', 'json lines, or pretty for humans.'),
    log_file: str('', 'Write logs to this file instead of stdout (empty: stdout).'),
    max_log_file_size_mb: int(100, 'Accepted for compatibility with the seed guide; has no effect (see NO_EFFECT_KEYS).'),
    max_log_files: int(10, 'Accepted for compatibility with the seed guide; has no effect (see NO_EFFECT_KEYS).'),
    log_fields: LogFields,
    metrics_bind_address: stringType()
      .refine((a) => { if (a === '') return true; try { parseBindAddress(a); return true; } catch { return false; } }, { error: (iss) => bindAddressMessage(iss.input) })
      .default('')
      .describe('host:port where a process that serves no API (--mode dispatcher or worker) answers /health, /ready and /metrics, as the guide\'s Prometheus jobs scrape them. Empty: no listener.'),
  })
  .prefault({})
  .describe('Logging and metrics.');

const Operator = z
  .strictObject({
    kubeconfig: str('', 'kubeconfig file of the cluster to operate. Empty: $KUBECONFIG, ~/.kube/config, then the in-cluster service account.'),
    namespaces: stringList([], 'Namespaces whose ScheduledTasks and WorkerPools are reconciled. Empty: all namespaces.'),
    lease_name: str('hourglass-operator', 'coordination.k8s.io Lease that elects the active operator replica.'),
    lease_namespace: str('', 'Namespace of the Lease. Empty: the pod\'s own namespace (service account), else "default".'),
    lease_duration_seconds: int(15, 'A standby takes the Lease after it went this long without renewal.', 1),
    renew_deadline_seconds: int(10, 'The leader steps down when it could not renew for this long; must be below lease_duration_seconds.', 1),
    retry_period_seconds: int(2, 'How often the leader renews and a standby retries.', 1),
    request_timeout_seconds: int(10, 'Any Kubernetes API call (but a watch) that got no answer for this long fails; Lease calls are also cut at the renew deadline.', 1),
    identity: str('', 'This replica\'s name in the Lease. Empty: <hostname>-<pid>.'),
    bind_address: stringType()
      .refine((a) => { try { parseBindAddress(a); return true; } catch { return false; } }, { error: (iss) => bindAddressMessage(iss.input) })
      .default('0.0.0.0:8081')
      .describe('host:port of the operator\'s /health, /ready and /metrics.'),
    resync_seconds: int(300, 'Full relist of every watched resource this often, on top of the watches.', 1),
    reconcile_workers: int(16, 'Resources reconciled at once, per kind.', 1),
    task_requeue_seconds: int(300, 'A ScheduledTask is reconciled at least this often (its next slot usually comes first).', 1),
    pool_resync_seconds: int(10, 'How often a WorkerPool\'s backlog is read to scale its Deployment.', 1),
    run_poll_interval_ms: int(1000, 'How often runs of Kubernetes tasks that started or finished are looked for, to update statuses and emit Events.', 100),
    worker_image: str('', 'Image of worker pods when a WorkerPool sets no spec.template.image. Empty: the operator\'s own image (read from its pod), so a tagged operator never starts untagged workers; outside a cluster, scheduler:latest.'),
    allowed_worker_images: stringList([], 'Images a WorkerPool may set in spec.template.image (exact, or a prefix ending in "*", e.g. "registry.example/hourglass:*"). Empty: only worker_image.'),
    allowed_env_secrets: stringList([], 'Secrets a WorkerPool\'s spec.template.env may read through valueFrom.secretKeyRef. Empty: none (worker_secret reaches the pods through envFrom regardless).'),
    allow_control_plane_nodes: bool(false, 'Let WorkerPools tolerate control-plane taints or select control-plane nodes (node-role.kubernetes.io/control-plane or master).'),
    worker_secret: str('scheduler-worker-secrets', 'Secret (in each WorkerPool\'s namespace) whose keys become the environment of worker pods: MESSAGE_QUEUE_URL, MESSAGE_QUEUE_TYPE, ENVIRONMENT (and DATABASE_URL only with the postgres queue).'),
    run_dispatcher: bool(true, 'Also run the dispatcher (lease-elected leader) in `scheduler --mode operator`, so one Deployment schedules and reconciles.'),
  })
  .refine((o) => o.renew_deadline_seconds < o.lease_duration_seconds, { error: 'renew_deadline_seconds must be below lease_duration_seconds', path: ['renew_deadline_seconds'] })
  .refine((o) => o.retry_period_seconds < o.renew_deadline_seconds, { error: 'retry_period_seconds must be below renew_deadline_seconds', path: ['retry_period_seconds'] })
  .prefault({})
  .describe('Kubernetes operator (`scheduler --mode operator`).');

export const ConfigSchema = z
  .strictObject({
    environment: str('development', 'The selected environment; set by the loader from ENVIRONMENT, not by files.'),
    database_url: stringType().optional().describe('Alias of database.url, applied in the file that sets it.'),
    worker_id: stringType().optional().describe('Alias of worker.worker_id, applied in the file that sets it.'),
    database: Database,
    message_queue: MessageQueue,
    dispatcher: Dispatcher,
    worker: Worker,
    api: Api,
    observability: Observability,
    operator: Operator,
  })
  .transform(({ database_url: _d, worker_id: _w, ...c }) => ({
    ...c,
    observability: {
      ...c.observability,
      log_fields: {
        ...c.observability.log_fields,
        environment: c.observability.log_fields.environment || c.environment,
      } as LogFieldsOutput,
    },
    /** Derived: no database url anywhere in the chain, so run on embedded PGlite with the postgres queue. */
    embedded: c.database.url === '',
  }));

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;
