/** What a grid scenario sets on the plant at a moment (seconds from the start). */
export interface ScenarioPoint {
  hz: number;
  generationKw: number;
  baseLoadKw: number;
  /** the grid operator's relay contact */
  relay: boolean;
}

export interface Scenario {
  name: string;
  description: string;
  /** natural length (s); the simulator loops or stops at it */
  durationS: number;
  at(tS: number): ScenarioPoint;
}
