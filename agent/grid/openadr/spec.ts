/**
 * OpenADR 3 objects as the agent and the simulated VTN use them: TypeScript types and zod
 * schemas written after the OpenADR Alliance's OpenAPI file and Definitions, 3.1.0 (3.0.1
 * tolerated). Field names, enumerations and payload types are the specification's own.
 *
 * Two rules shape every schema here:
 * - tolerant where the specification is: unknown extra fields pass through (Definitions,
 *   "Model Extension"), and enumerated strings the specification lets programs extend with
 *   private strings (payload types, units, reading types) stay plain strings;
 * - strict where the agent acts: numbers finite, date-times RFC 3339 with a zone, durations
 *   ISO 8601 (the OpenAPI `duration` pattern), IDs URL-safe, lengths as the OpenAPI file bounds.
 *
 * Differences 3.0.1 -> 3.1.0 this file absorbs (3.1.0 changeLog): targets are strings (3.0.1:
 * valuesMaps), report has no programID, resources live at /resources (3.0.1:
 * /vens/{venID}/resources), notification operations are CREATE/UPDATE/DELETE (3.0.1: HTTP verbs).
 * The time rules (durations, the "now" start, P9999Y, randomizeStart, sequential intervals,
 * event.duration) are in ./spec-time.ts, re-exported here: one reading of them for VEN and VTN.
 */
import { z } from 'zod';
import { DURATION_PATTERN, isNowStart } from './spec-time';

// ---------------------------------------------------------------- primitives

/** objectID: URL safe VTN assigned object ID (OpenAPI `objectID`) */
export const objectIdSchema = z.string().min(1).max(128).regex(/^[a-zA-Z0-9_-]*$/, 'not a URL-safe objectID');

/** RFC 3339 date-time with a zone; a time without zone is ambiguous and never acted on */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})$/;
export const dateTimeSchema = z
  .string()
  .refine((s) => RFC3339.test(s) && Number.isFinite(Date.parse(s)), 'not an RFC 3339 date-time with a zone');

/** intervalPeriod.start: a date-time, or the specification's 'now' sentinel */
export const startSchema = z.string().refine((s) => isNowStart(s) || (RFC3339.test(s) && Number.isFinite(Date.parse(s))), 'not an RFC 3339 date-time or the "now" start');

export const durationSchema = z.string().regex(DURATION_PATTERN, 'not an ISO 8601 duration');
/** a duration the agent times an interval or a randomization by: never negative */
export const spanSchema = durationSchema.refine((s) => !s.startsWith('-'), 'negative duration');

const finite = z.number().finite();

// ---------------------------------------------------------------- enumerations

/** objectTypes: the objects addressable through the API */
export const OBJECT_TYPES = ['PROGRAM', 'EVENT', 'REPORT', 'SUBSCRIPTION', 'VEN', 'RESOURCE'] as const;
export const objectTypeSchema = z.enum(OBJECT_TYPES);
export type ObjectType = z.infer<typeof objectTypeSchema>;

/** operations as 3.1.0 names them (subscriptions and notifications) */
export const OPERATIONS = ['READ', 'CREATE', 'UPDATE', 'DELETE'] as const;
export type Operation = (typeof OPERATIONS)[number];
/** 3.0.1 notifications (and some 3.1.0 VTNs) use HTTP verbs; read as the CRUD names */
const VERB_TO_OPERATION: Record<string, Operation> = { GET: 'READ', POST: 'CREATE', PUT: 'UPDATE', DELETE: 'DELETE' };
export const operationSchema = z
  .string()
  .transform((s, ctx): Operation => {
    const op = (OPERATIONS as readonly string[]).includes(s) ? (s as Operation) : VERB_TO_OPERATION[s];
    if (!op) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `unknown operation ${s}` });
      return z.NEVER;
    }
    return op;
  });

/** event interval payload types the agent obeys (Definitions, Table 1); others are kept as strings */
export const EventPayloadType = {
  SIMPLE: 'SIMPLE',
  PRICE: 'PRICE',
  IMPORT_CAPACITY_LIMIT: 'IMPORT_CAPACITY_LIMIT',
  DISPATCH_SETPOINT: 'DISPATCH_SETPOINT',
  ALERT_GRID_EMERGENCY: 'ALERT_GRID_EMERGENCY',
} as const;
export type KnownEventPayloadType = (typeof EventPayloadType)[keyof typeof EventPayloadType];

/** report payload types the agent produces (Definitions, Table 2) */
export const ReportPayloadType = {
  READING: 'READING',
  USAGE: 'USAGE',
  DEMAND: 'DEMAND',
  SETPOINT: 'SETPOINT',
  OPERATING_STATE: 'OPERATING_STATE',
  SIMPLE_LEVEL: 'SIMPLE_LEVEL',
  DATA_QUALITY: 'DATA_QUALITY',
} as const;

/** readingType (Definitions, Table 3); DIRECT_READ when absent */
export const READING_TYPES = ['DIRECT_READ', 'ESTIMATED', 'SUMMED', 'MEAN', 'PEAK', 'FORECAST', 'AVERAGE'] as const;
/** OPERATING_STATE values (Definitions, Table 4) */
export const OPERATING_STATES = [
  'NORMAL', 'ERROR', 'IDLE_NORMAL', 'RUNNING_NORMAL', 'RUNNING_CURTAILED', 'RUNNING_HEIGHTENED',
  'IDLE_CURTAILED', 'SGD_ERROR_CONDITION', 'IDLE_HEIGHTENED', 'IDLE_OPTED_OUT', 'RUNNING_OPTED_OUT',
] as const;
export type OperatingState = (typeof OPERATING_STATES)[number];
/** units (Definitions, Table 9) the agent converts between; PERCENT is a fraction -1..1 */
export const UNITS = ['KWH', 'THERMS', 'GHG', 'VOLTS', 'AMPS', 'CELSIUS', 'FAHRENHEIT', 'PERCENT', 'KW', 'KVAH', 'KVARH', 'KVA', 'KVAR'] as const;
/** DATA_QUALITY values (Definitions, Table 6) */
export const DATA_QUALITY = ['OK', 'MISSING', 'ESTIMATED', 'BAD'] as const;
/** resourceName of a report resource that aggregates several resources (Definitions, Table 5) */
export const AGGREGATED_REPORT = 'AGGREGATED_REPORT';

// ---------------------------------------------------------------- building blocks

/** problem: the error body of every 4xx/5xx (RFC 7807 shape, as the OpenAPI file) */
export const problemSchema = z
  .object({
    type: z.string().optional(),
    title: z.string().optional(),
    status: z.number().int().min(100).max(599).optional(),
    detail: z.string().optional(),
    instance: z.string().optional(),
  })
  .passthrough();
export type Problem = z.infer<typeof problemSchema>;

export const pointSchema = z.object({ x: finite, y: finite }).passthrough();

/** valuesMap: a type and its values (numbers finite; JSON 1e999 would read as Infinity) */
export const valuesMapSchema = z
  .object({
    type: z.string().min(1).max(128),
    values: z.array(z.union([finite, z.string(), z.boolean(), pointSchema])),
  })
  .passthrough();
export type ValuesMap = z.infer<typeof valuesMapSchema>;

/** targets: strings in 3.1.0, valuesMaps in 3.0.1; read with targetStrings() */
export const targetsSchema = z.array(z.union([z.string().min(1).max(128), valuesMapSchema])).nullish();
export type Targets = z.infer<typeof targetsSchema>;

/** one flat list of target strings, whichever revision wrote them (3.0.1 valuesMaps give their values) */
export function targetStrings(targets: Targets): string[] {
  const out: string[] = [];
  for (const t of targets ?? []) {
    if (typeof t === 'string') out.push(t);
    else for (const v of t.values) if (typeof v === 'string' || typeof v === 'number') out.push(String(v));
  }
  return out;
}

/** intervalPeriod: start (or 'now'), duration (PT0S default; P9999Y open-ended), randomizeStart */
export const intervalPeriodSchema = z
  .object({ start: startSchema, duration: spanSchema.nullish(), randomizeStart: spanSchema.nullish() })
  .passthrough();
export type IntervalPeriod = z.infer<typeof intervalPeriodSchema>;

/** interval: id (client generated, not a sequence number), optional own period, payloads */
export const intervalSchema = z
  .object({
    id: z.number().int(),
    intervalPeriod: intervalPeriodSchema.nullish(),
    payloads: z.array(valuesMapSchema),
  })
  .passthrough();
export type Interval = z.infer<typeof intervalSchema>;

export const eventPayloadDescriptorSchema = z
  .object({
    objectType: z.literal('EVENT_PAYLOAD_DESCRIPTOR').optional(),
    payloadType: z.string().min(1).max(128),
    units: z.string().nullish(),
    currency: z.string().nullish(),
  })
  .passthrough();
export type EventPayloadDescriptor = z.infer<typeof eventPayloadDescriptorSchema>;

export const reportPayloadDescriptorSchema = z
  .object({
    objectType: z.literal('REPORT_PAYLOAD_DESCRIPTOR').optional(),
    payloadType: z.string().min(1).max(128),
    readingType: z.string().nullish(),
    units: z.string().nullish(),
    accuracy: finite.nullish(),
    confidence: z.number().int().min(0).max(100).nullish(),
  })
  .passthrough();
export type ReportPayloadDescriptor = z.infer<typeof reportPayloadDescriptorSchema>;

/**
 * reportDescriptor: how an event asks for reports. Defaults (OpenAPI): aggregate false,
 * startInterval -1 (report at the end of the last interval), numIntervals -1 (all),
 * historical true, frequency -1 (same as numIntervals), repeat 1 (-1 = indefinitely).
 * Bounds keep a hostile VTN from asking for a report every interval of 2^31 intervals.
 */
const intervalCount = z.number().int().min(-1).max(100_000);
export const reportDescriptorSchema = z
  .object({
    payloadType: z.string().min(1).max(128),
    readingType: z.string().nullish(),
    units: z.string().nullish(),
    targets: targetsSchema,
    aggregate: z.boolean().nullish(),
    startInterval: intervalCount.nullish(),
    numIntervals: intervalCount.nullish(),
    historical: z.boolean().nullish(),
    frequency: intervalCount.nullish(),
    repeat: intervalCount.nullish(),
    /** 3.1.0: VEN report interval options (User Guide); kept, not interpreted */
    reportIntervals: z.unknown().optional(),
  })
  .passthrough();
export type ReportDescriptor = z.infer<typeof reportDescriptorSchema>;

/** the fields the VTN provisions on every addressable object (Definitions, "Object Metadata") */
const metadata = {
  id: objectIdSchema,
  createdDateTime: dateTimeSchema,
  modificationDateTime: dateTimeSchema,
};
/** the same fields where a client sends them: the VTN ignores them (Definitions, "POST and PUT") */
const metadataIgnored = {
  id: z.unknown().optional(),
  createdDateTime: z.unknown().optional(),
  modificationDateTime: z.unknown().optional(),
  objectType: z.unknown().optional(),
};

// ---------------------------------------------------------------- objects

const programFields = {
  programName: z.string().min(1).max(128),
  programLongName: z.string().nullish(),
  retailerName: z.string().nullish(),
  retailerLongName: z.string().nullish(),
  programType: z.string().nullish(),
  country: z.string().nullish(),
  principalSubdivision: z.string().nullish(),
  timeZoneOffset: durationSchema.nullish(),
  intervalPeriod: intervalPeriodSchema.nullish(),
  programDescriptions: z.array(z.object({ URL: z.string() }).passthrough()).nullish(),
  bindingEvents: z.boolean().nullish(),
  localPrice: z.boolean().nullish(),
  payloadDescriptors: z.array(z.union([eventPayloadDescriptorSchema, reportPayloadDescriptorSchema])).nullish(),
  /** 3.1.0 (issue 320): program attributes as valuesMaps */
  attributes: z.array(valuesMapSchema).nullish(),
  targets: targetsSchema,
};
export const programRequestSchema = z.object({ ...metadataIgnored, ...programFields }).passthrough();
export const programSchema = z.object({ ...metadata, objectType: z.literal('PROGRAM'), ...programFields }).passthrough();
export type ProgramRequest = z.infer<typeof programRequestSchema>;
export type Program = z.infer<typeof programSchema>;

const eventFields = {
  programID: objectIdSchema,
  eventName: z.string().nullish(),
  /** lower number = higher priority; absent = lowest */
  priority: z.number().int().min(0).nullish(),
  targets: targetsSchema,
  reportDescriptors: z.array(reportDescriptorSchema).nullish(),
  payloadDescriptors: z.array(eventPayloadDescriptorSchema).nullish(),
  intervalPeriod: intervalPeriodSchema.nullish(),
  intervals: z.array(intervalSchema),
  /** 3.1.0: shortens or lengthens the event's span; P9999Y repeats the intervals indefinitely */
  duration: spanSchema.nullish(),
};
export const eventRequestSchema = z.object({ ...metadataIgnored, ...eventFields }).passthrough();
export const eventSchema = z.object({ ...metadata, objectType: z.literal('EVENT'), ...eventFields }).passthrough();
export type EventRequest = z.infer<typeof eventRequestSchema>;
export type OadrEvent = z.infer<typeof eventSchema>;

/** report data for one resource (or AGGREGATED_REPORT) */
export const reportResourceSchema = z
  .object({
    resourceName: z.string().min(1).max(128),
    intervalPeriod: intervalPeriodSchema.nullish(),
    intervals: z.array(intervalSchema),
  })
  .passthrough();
export type ReportResource = z.infer<typeof reportResourceSchema>;

const reportFields = {
  /** 3.0.1 only (3.1.0 issue 253 removed it); tolerated */
  programID: objectIdSchema.optional(),
  eventID: objectIdSchema,
  clientName: z.string().min(1).max(128),
  reportName: z.string().nullish(),
  payloadDescriptors: z.array(reportPayloadDescriptorSchema).nullish(),
  resources: z.array(reportResourceSchema),
};
export const reportRequestSchema = z.object({ ...metadataIgnored, ...reportFields }).passthrough();
export const reportSchema = z
  .object({ ...metadata, objectType: z.literal('REPORT'), clientID: z.string().optional(), ...reportFields })
  .passthrough();
export type ReportRequest = z.infer<typeof reportRequestSchema>;
export type Report = z.infer<typeof reportSchema>;

export const objectOperationSchema = z
  .object({
    objects: z.array(objectTypeSchema).min(1),
    operations: z.array(operationSchema).min(1),
    callbackUrl: z.string().url().max(2048),
    bearerToken: z.string().max(4096).nullish(),
  })
  .passthrough();
export type ObjectOperation = z.infer<typeof objectOperationSchema>;

const subscriptionFields = {
  clientName: z.string().min(1).max(128),
  /** optional in 3.1.0 (issue 231): a VEN may subscribe to its own ven object */
  programID: objectIdSchema.nullish(),
  objectOperations: z.array(objectOperationSchema).min(1),
  targets: targetsSchema,
};
export const subscriptionRequestSchema = z.object({ ...metadataIgnored, ...subscriptionFields }).passthrough();
export const subscriptionSchema = z
  .object({ ...metadata, objectType: z.literal('SUBSCRIPTION'), clientID: z.string().optional(), ...subscriptionFields })
  .passthrough();
export type SubscriptionRequest = z.infer<typeof subscriptionRequestSchema>;
export type Subscription = z.infer<typeof subscriptionSchema>;

const resourceFields = {
  resourceName: z.string().min(1).max(128),
  /** set by the VTN from the path in 3.0.1; sent in the body at 3.1.0's /resources */
  venID: objectIdSchema.optional(),
  attributes: z.array(valuesMapSchema).nullish(),
  targets: targetsSchema,
};
export const resourceRequestSchema = z.object({ ...metadataIgnored, ...resourceFields }).passthrough();
export const resourceSchema = z
  .object({ ...metadata, objectType: z.literal('RESOURCE'), clientID: z.string().optional(), ...resourceFields })
  .passthrough();
export type ResourceRequest = z.infer<typeof resourceRequestSchema>;
export type Resource = z.infer<typeof resourceSchema>;

const venFields = {
  venName: z.string().min(1).max(128),
  attributes: z.array(valuesMapSchema).nullish(),
  targets: targetsSchema,
  /** 3.0.1 nests resources in the ven; 3.1.0 keeps them at /resources */
  resources: z.array(resourceRequestSchema).nullish(),
};
/** objectType VEN_VEN_REQUEST or BL_VEN_REQUEST in 3.1.0; only BL may set clientID and targets */
export const venRequestSchema = z.object({ ...metadataIgnored, clientID: z.string().max(128).optional(), ...venFields }).passthrough();
export const venSchema = z
  .object({ ...metadata, objectType: z.literal('VEN'), clientID: z.string().optional(), ...venFields, resources: z.array(resourceSchema).nullish() })
  .passthrough();
export type VenRequest = z.infer<typeof venRequestSchema>;
export type Ven = z.infer<typeof venSchema>;

/** notification: what a VTN POSTs to a callbackUrl (and publishes on MQTT topics) */
export const notificationSchema = z
  .object({
    objectType: objectTypeSchema,
    operation: operationSchema,
    object: z.record(z.unknown()),
    targets: targetsSchema,
  })
  .passthrough();
export type Notification = z.infer<typeof notificationSchema>;

/** the schema of the object a notification carries, by its objectType */
export const OBJECT_SCHEMAS = {
  PROGRAM: programSchema,
  EVENT: eventSchema,
  REPORT: reportSchema,
  SUBSCRIPTION: subscriptionSchema,
  VEN: venSchema,
  RESOURCE: resourceSchema,
} as const;

// ---------------------------------------------------------------- notifiers (3.1.0)

export const mqttAuthenticationSchema = z.discriminatedUnion('method', [
  z.object({ method: z.literal('ANONYMOUS') }).passthrough(),
  /** token as the password; username literal, or "{clientID}" for the client's own ID */
  z.object({ method: z.literal('OAUTH2_BEARER_TOKEN'), username: z.string() }).passthrough(),
  z.object({ method: z.literal('CERTIFICATE'), caCert: z.string(), clientCert: z.string(), clientKey: z.string() }).passthrough(),
]);
export const mqttBindingSchema = z
  .object({
    URIS: z.array(z.string().url()).min(1),
    serialization: z.string().default('JSON'),
    authentication: mqttAuthenticationSchema,
  })
  .passthrough();
export type MqttBinding = z.infer<typeof mqttBindingSchema>;

/** GET /notifiers: WEBHOOK (currently MUST be true) and, where offered, the MQTT binding */
export const notifiersResponseSchema = z
  .object({ WEBHOOK: z.boolean(), MQTT: mqttBindingSchema.nullish() })
  .passthrough();
export type NotifiersResponse = z.infer<typeof notifiersResponseSchema>;

/** GET /notifiers/mqtt/topics/...: topic names per operation (CREATE absent for one object's ID) */
export const notifierTopicsResponseSchema = z
  .object({
    topics: z
      .object({ CREATE: z.string().optional(), UPDATE: z.string().optional(), DELETE: z.string().optional(), ALL: z.string().optional() })
      .passthrough(),
  })
  .passthrough();
export type NotifierTopicsResponse = z.infer<typeof notifierTopicsResponseSchema>;

// ---------------------------------------------------------------- auth

/** POST /auth/token body, form-encoded, snake_case per RFC 6749 */
export const clientCredentialRequestSchema = z
  .object({
    grant_type: z.literal('client_credentials'),
    client_id: z.string().min(1).max(4096),
    client_secret: z.string().min(1).max(4096),
    scope: z.string().max(4096).optional(),
  })
  .passthrough();
export type ClientCredentialRequest = z.infer<typeof clientCredentialRequestSchema>;

/** the token reply; expires_in bounded so an absurd lifetime cannot postpone every refresh */
export const clientCredentialResponseSchema = z
  .object({
    access_token: z.string().min(1).max(4096),
    token_type: z.string().refine((t) => t.toLowerCase() === 'bearer', 'token_type is not Bearer'),
    expires_in: z.number().int().min(1).max(10 * 365 * 86_400).optional(),
    refresh_token: z.string().min(1).max(4096).optional(),
    scope: z.string().max(4096).optional(),
  })
  .passthrough();
export type ClientCredentialResponse = z.infer<typeof clientCredentialResponseSchema>;

/** the 400 reply of /auth/token (RFC 6749 §5.2) */
export const AUTH_ERRORS = ['invalid_request', 'invalid_client', 'invalid_grant', 'invalid_scope', 'unauthorized_client', 'unsupported_grant_type'] as const;
export const authErrorSchema = z
  .object({ error: z.string(), error_description: z.string().optional(), error_uri: z.string().optional() })
  .passthrough();
export type AuthError = z.infer<typeof authErrorSchema>;

/** GET /auth/server (3.1.0, required): where the token endpoint is */
export const authServerInfoSchema = z.object({ tokenURL: z.string().url() }).passthrough();
export type AuthServerInfo = z.infer<typeof authServerInfoSchema>;

// ---------------------------------------------------------------- lists

/** the OpenAPI file caps `limit` at 50; a VTN pages beyond it with `skip` */
export const MAX_LIMIT = 50;
export const programListSchema = z.array(programSchema);
export const eventListSchema = z.array(eventSchema);
export const reportListSchema = z.array(reportSchema);
export const subscriptionListSchema = z.array(subscriptionSchema);
export const venListSchema = z.array(venSchema);
export const resourceListSchema = z.array(resourceSchema);

export * from './spec-time';
