/** The simulated OpenADR 3 VTN (sim/vtn/vtn.ts) and what its users name. */
export { SimVtn, type RequestRecord, type SimVtnOptions } from './vtn';
export type { EventInput, ProgramInput } from './operator';
export type { Role, SimVtnClient } from './auth';
export type { VtnFault } from './faults';
export type { Delivery } from './notify';
export type { Violation } from './state';
