import type { ServiceDefinition } from '@grpc/grpc-js';
import { fromJSON, type PackageDefinition } from '@grpc/proto-loader';
import { parse } from 'protobufjs';

/**
 * The part of the Braiins OS+ public gRPC API (github.com/braiins/bos-plus-api, proto/bos/) this
 * project speaks, written out again with only the messages and fields used: the same packages
 * (braiins.bos, braiins.bos.v1), service and method names and field numbers as the published
 * files, so a real miner understands every byte, and fields left out are skipped on decode as
 * protobuf skips any unknown field. API 1.1.0 added LoginResponse.token and timeout_s; older
 * firmware sends the token only in the `authorization` response header.
 *
 * The text lives in this module, not in a .proto file, so the agent's single-file bundle
 * (scripts/package/build.ts) needs no file beside it: it is parsed at first use (protobufjs's
 * parser, which @grpc/proto-loader itself is built on) and handed to proto-loader's fromJSON.
 */
export const BOS_PROTO = `
syntax = "proto3";

package braiins.bos;

message ApiVersionRequest {}
message ApiVersion {
  uint64 major = 1;
  uint64 minor = 2;
  uint64 patch = 3;
  string pre = 4;
  string build = 5;
}
service ApiVersionService {
  rpc GetApiVersion(ApiVersionRequest) returns (ApiVersion);
}
`;

export const BOS_V1_PROTO = `
syntax = "proto3";

package braiins.bos.v1;

// units.proto
message GigaHashrate { double gigahash_per_second = 1; }
message TeraHashrate { double terahash_per_second = 1; }
message Power { uint64 watt = 1; }
message Temperature { double degree_c = 1; }

// common.proto
enum SaveAction {
  SAVE_ACTION_UNSPECIFIED = 0;
  SAVE_ACTION_SAVE = 1;
  SAVE_ACTION_SAVE_AND_APPLY = 2;
  SAVE_ACTION_SAVE_AND_FORCE_APPLY = 3;
}

// authentication.proto
message LoginRequest {
  string username = 1;
  string password = 2;
}
message LoginResponse {
  string token = 1;
  uint32 timeout_s = 2;
}
service AuthenticationService {
  rpc Login(LoginRequest) returns (LoginResponse);
}

// actions.proto
message StartRequest {}
message StartResponse { bool already_running = 1; }
message StopRequest {}
message StopResponse { bool already_stopped = 1; }
message PauseMiningRequest {}
message PauseMiningResponse { bool already_paused = 1; }
message ResumeMiningRequest {}
message ResumeMiningResponse { bool already_mining = 1; }
service ActionsService {
  rpc Start(StartRequest) returns (StartResponse);
  rpc Stop(StopRequest) returns (StopResponse);
  rpc PauseMining(PauseMiningRequest) returns (PauseMiningResponse);
  rpc ResumeMining(ResumeMiningRequest) returns (ResumeMiningResponse);
}

// performance.proto
enum TunerState {
  TUNER_STATE_UNSPECIFIED = 0;
  TUNER_STATE_DISABLED = 1;
  TUNER_STATE_STABLE = 2;
  TUNER_STATE_TUNING = 3;
  TUNER_STATE_ERROR = 4;
}
message SetPowerTargetRequest {
  SaveAction save_action = 1;
  Power power_target = 2;
}
message SetPowerTargetResponse { Power power_target = 1; }
message GetTunerStateRequest {}
message PowerTargetModeState { Power current_target = 2; }
message HashrateTargetModeState { TeraHashrate current_target = 2; }
message GetTunerStateResponse {
  TunerState overall_tuner_state = 1;
  oneof mode_state {
    PowerTargetModeState power_target_mode_state = 2;
    HashrateTargetModeState hashrate_target_mode_state = 3;
  }
}
service PerformanceService {
  rpc GetTunerState(GetTunerStateRequest) returns (GetTunerStateResponse);
  rpc SetPowerTarget(SetPowerTargetRequest) returns (SetPowerTargetResponse);
}

// miner.proto and work.proto
enum MinerBrand {
  MINER_BRAND_UNSPECIFIED = 0;
  MINER_BRAND_ANTMINER = 1;
  MINER_BRAND_WHATSMINER = 2;
}
enum MinerStatus {
  MINER_STATUS_UNSPECIFIED = 0;
  MINER_STATUS_NOT_STARTED = 1;
  MINER_STATUS_NORMAL = 2;
  MINER_STATUS_PAUSED = 3;
  MINER_STATUS_SUSPENDED = 4;
  MINER_STATUS_RESTRICTED = 5;
}
message MinerIdentity {
  MinerBrand brand = 1;
  string name = 3;
  string miner_model = 4;
}
message BosVersion {
  string current = 1;
  string major = 2;
  bool bos_plus = 3;
}
message GetMinerDetailsRequest {}
message GetMinerDetailsResponse {
  string uid = 1;
  MinerIdentity miner_identity = 2;
  BosVersion bos_version = 5;
  string hostname = 6;
  string mac_address = 7;
  GigaHashrate sticker_hashrate = 9;
  uint64 bosminer_uptime_s = 10;
  uint64 system_uptime_s = 11;
  MinerStatus status = 12;
}
message RealHashrate {
  GigaHashrate last_5s = 1;
  GigaHashrate last_15s = 2;
  GigaHashrate last_30s = 3;
  GigaHashrate last_1m = 4;
  GigaHashrate last_5m = 5;
}
message WorkSolverStats {
  RealHashrate real_hashrate = 1;
  GigaHashrate nominal_hashrate = 2;
}
message MinerPowerStats { Power approximated_consumption = 1; }
message GetMinerStatsRequest {}
message GetMinerStatsResponse {
  WorkSolverStats miner_stats = 2;
  MinerPowerStats power_stats = 3;
}
service MinerService {
  rpc GetMinerDetails(GetMinerDetailsRequest) returns (GetMinerDetailsResponse);
  rpc GetMinerStats(GetMinerStatsRequest) returns (GetMinerStatsResponse);
}

// cooling.proto
enum SensorLocation {
  SENSOR_LOCATION_UNSPECIFIED = 0;
  SENSOR_LOCATION_CHIP = 1;
  SENSOR_LOCATION_PCB = 2;
}
message TemperatureSensor {
  SensorLocation location = 2;
  Temperature temperature = 3;
}
message GetCoolingStateRequest {}
message GetCoolingStateResponse { TemperatureSensor highest_temperature = 2; }
service CoolingService {
  rpc GetCoolingState(GetCoolingStateRequest) returns (GetCoolingStateResponse);
}

// constraints.proto and configuration.proto
message PowerConstraints {
  Power default = 1;
  Power min = 2;
  Power max = 3;
}
message TunerConstraints { PowerConstraints power_target = 1; }
message GetConstraintsRequest {}
message GetConstraintsResponse { TunerConstraints tuner_constraints = 1; }
service ConfigurationService {
  rpc GetConstraints(GetConstraintsRequest) returns (GetConstraintsResponse);
}
`;

/** the enum values this project reads and writes (the published numbers) */
export const SAVE_AND_APPLY = 2;
export const MinerStatusCode = { unspecified: 0, notStarted: 1, normal: 2, paused: 3, suspended: 4, restricted: 5 } as const;
export const TunerStateCode = { unspecified: 0, disabled: 1, stable: 2, tuning: 3, error: 4 } as const;

/**
 * Messages as plain objects: field names as in the .proto (keepCase), 64-bit integers as numbers
 * (watts and seconds are far below 2^53), enums as their numbers (a value this file does not
 * name still decodes), absent fields at their defaults, and which member of a oneof is set.
 */
const LOADER_OPTIONS = { keepCase: true, longs: Number, enums: Number, defaults: true, oneofs: true } as const;

let loaded: PackageDefinition | undefined;

/** the package definition of both files, parsed once */
export function bosPackage(): PackageDefinition {
  if (!loaded) {
    const root = parse(BOS_PROTO, { keepCase: true }).root;
    parse(BOS_V1_PROTO, root, { keepCase: true });
    loaded = fromJSON(root.toJSON(), LOADER_OPTIONS);
  }
  return loaded;
}

export type BosService = 'braiins.bos.ApiVersionService' | `braiins.bos.v1.${'AuthenticationService' | 'ActionsService' | 'PerformanceService' | 'MinerService' | 'CoolingService' | 'ConfigurationService'}`;

/** one service's definition, for a client's calls or a server's addService */
export function bosService(name: BosService): ServiceDefinition {
  const def = bosPackage()[name];
  if (!def || 'format' in def || !Object.values(def).every((m) => typeof m === 'object' && m !== null && 'path' in m)) {
    throw new Error(`${name}: not a service in the Braiins OS+ protos`);
  }
  return def as unknown as ServiceDefinition;
}

/** `Service/Method`, e.g. 'braiins.bos.v1.ActionsService/PauseMining' */
export type BosMethod = `${BosService}/${string}`;
