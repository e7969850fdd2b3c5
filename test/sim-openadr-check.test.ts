import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { VtnEventRun } from '../sim/openadr-rig';
import { checkObeyed, effectOf, openAdrLine, openAdrResponses, type OpenAdrLog, type OpenAdrSample } from '../sim/report/openadr';
import type { TripSeen } from '../sim/report/summary';
import { CellError, parseExpectation } from '../sim/scenarios/cells';

// The openadr-obeyed-within checker on hand-made run logs: what each event asks, when the site
// showed it, and the verdict, without a run.
const levels = { 1: 0.5, 2: 0.25, 3: 0 };
const ev = (name: string, type: VtnEventRun['type'], value: number | string, startS: number, endS?: number, more: Partial<VtnEventRun> = {}): VtnEventRun =>
  ({ name, program: 'ers-30', type, value, createdS: startS, startS, ...(endS !== undefined ? { endS } : {}), ...more });
const logOf = (events: VtnEventRun[], samples: OpenAdrSample[]): OpenAdrLog => ({ events, samples, maxKw: 6, simpleLevels: levels, maxPrice: 0.1 });
const running = (tS: number, targetKw: number): OpenAdrSample => ({ tS, state: 'running', targetKw });

test('The expectation "openadr obeyed within N s" is read from its text, and a bad time is refused', () => {
  assert.equal(parseExpectation('openadr obeyed within 12 s'), { text: 'openadr obeyed within 12 s', kind: 'openadr-obeyed-within', s: 12 });
  assert.is(parseExpectation('OpenADR events obeyed within 5s').kind, 'openadr-obeyed-within');
  assert.throws(() => parseExpectation('openadr obeyed within soon s'), (e: unknown) => e instanceof CellError);
  assert.throws(() => parseExpectation('openadr obeyed within 0 s'), (e: unknown) => e instanceof CellError);
});

test('Each payload type asks the site what the agent reads it as', () => {
  const log = logOf([], []);
  assert.equal(effectOf(ev('a', 'ALERT_GRID_EMERGENCY', 'shed', 0), log), { kind: 'curtail' });
  assert.equal(effectOf(ev('s1', 'SIMPLE', 1, 0), log), { kind: 'cap', kw: 3 });
  assert.equal(effectOf(ev('s3', 'SIMPLE', 3, 0), log), { kind: 'curtail' });
  assert.equal(effectOf(ev('p', 'PRICE', 0.5, 0), log), { kind: 'cap', kw: 0 });
  assert.is(effectOf(ev('cheap', 'PRICE', 0.05, 0), log).kind, 'none');
  assert.equal(effectOf(ev('d', 'DISPATCH_SETPOINT', 4, 0), log), { kind: 'setpoint', kw: 4 });
  assert.equal(effectOf(ev('i', 'IMPORT_CAPACITY_LIMIT', 0.5, 0), log), { kind: 'reduce' });
});

test('A curtailment is seen at its openadr trip and ends when the site leaves the curtailed state after the deletion', () => {
  const trips: TripSeen[] = [{ tS: 11.2, source: 'openadr', latencyMs: 3 }];
  // the telemetry after the trip still shows the site running for a moment: the figures shown are the curtailed ones
  const samples = [running(0, 4.8), running(11.25, 4.8), { tS: 11.6, state: 'curtailed', targetKw: 0 }, { tS: 71.5, state: 'ramping', targetKw: 4.8 }];
  const [row] = openAdrResponses(logOf([ev('alert', 'ALERT_GRID_EMERGENCY', 'shed', 10, undefined, { deletedS: 70 })], samples), trips, 80);
  assert.is(row.seen_after_s, 1.2);
  assert.is(row.state, 'curtailed');
  assert.is(row.target_kw, 0);
  assert.is(row.ended_after_s, 1.5);
  assert.ok(checkObeyed([row], trips, 12, 80).pass);
  // the same run with the site still curtailed at the end: a failure, once the limit has passed
  const stuck = openAdrResponses(logOf([ev('alert', 'ALERT_GRID_EMERGENCY', 'shed', 10, undefined, { deletedS: 70 })], samples.slice(0, 3)), trips, 90);
  const v = checkObeyed(stuck, trips, 12, 90);
  assert.not.ok(v.pass);
  assert.match(v.measured, /still curtailed after its deletion/);
});

test('A cap is met when the target falls to it, and a slow one fails the limit', () => {
  const samples = [running(0, 4.8), running(108, 3)];
  const rows = openAdrResponses(logOf([ev('half', 'SIMPLE', 1, 100, 160)], samples), [], 200);
  assert.is(rows[0].seen_after_s, 8);
  assert.is(rows[0].target_kw, 3);
  assert.ok(checkObeyed(rows, [], 12, 200).pass);
  const v = checkObeyed(rows, [], 5, 200);
  assert.not.ok(v.pass);
  assert.match(v.measured, /half: seen 8 s after its start/);
});

test('A dispatch setpoint is met when the target reaches it, raised or lowered, not merely when it is below', () => {
  const low = openAdrResponses(logOf([ev('d', 'DISPATCH_SETPOINT', 4, 260, 410)], [running(250, 1.8), running(263, 4)]), [], 500);
  assert.is(low[0].seen_after_s, 3);
  const never = openAdrResponses(logOf([ev('d', 'DISPATCH_SETPOINT', 4, 260, 410)], [running(250, 1.8)]), [], 500);
  assert.is(never[0].seen_after_s, null);
});

test('An import limit counts only as a real cut of the target, not the surplus wandering', () => {
  const wander = openAdrResponses(logOf([ev('imp', 'IMPORT_CAPACITY_LIMIT', 0.5, 100, 150)], [running(90, 4), running(101, 3.9)]), [], 200);
  assert.is(wander[0].seen_after_s, null);
  assert.match(checkObeyed(wander, [], 12, 200).measured, /imp: no effect seen/);
  const cut = openAdrResponses(logOf([ev('imp', 'IMPORT_CAPACITY_LIMIT', 0.5, 100, 150)], [running(90, 4), running(102, 2.3)]), [], 200);
  assert.is(cut[0].seen_after_s, 2);
});

test('An event outweighed by a higher priority of its type is not expected, and curtailing for it fails', () => {
  // created one after the other: the higher priority starts a moment later and still outweighs it
  const low = ev('all-low', 'SIMPLE', 3, 280, 320, { priority: 5 });
  const high = ev('half-high', 'SIMPLE', 1, 280.004, 320.004, { priority: 1 });
  const samples = [running(270, 4), running(281, 3)];
  const rows = openAdrResponses(logOf([low, high], samples), [], 400);
  assert.is(rows[0].outweighed_by, 'half-high (priority 1)');
  assert.is(rows[1].outweighed_by, undefined);
  assert.ok(checkObeyed(rows, [], 12, 400).pass);
  const wrong: TripSeen[] = [{ tS: 281, source: 'openadr', latencyMs: 2 }];
  const v = checkObeyed(openAdrResponses(logOf([low, high], samples), wrong, 400), wrong, 12, 400);
  assert.not.ok(v.pass);
  assert.match(v.measured, /all-low: curtailed although half-high/);
});

test('An event whose limit runs past the end of a cut-short run is evidence still to come, and no event at all is not a pass', () => {
  const rows = openAdrResponses(logOf([ev('half', 'SIMPLE', 1, 75, 135)], [running(0, 4.8)]), [], 80);
  const v = checkObeyed(rows, [], 12, 80);
  assert.ok(v.later);
  assert.not.ok(v.pass);
  assert.not.ok(checkObeyed([], [], 12, 80).pass);
});

test('An event the VTN refused is reported with its reason and fails the check', () => {
  const rows = openAdrResponses(logOf([ev('bad', 'SIMPLE', 1, 10, 20, { error: 'operator POST /events: 400 bad' })], []), [], 60);
  assert.is(rows[0].error, 'operator POST /events: 400 bad');
  assert.match(checkObeyed(rows, [], 12, 60).measured, /bad: the VTN refused it/);
});

test('The summary line names each event, when it started and how the site answered it', () => {
  const rows = openAdrResponses(logOf([ev('half', 'SIMPLE', 1, 100, 160), ev('gone', 'SIMPLE', 2, 200, 260, { error: 'refused' })], [running(0, 4.8), running(101, 3)]), [], 300);
  assert.is(openAdrLine(rows), 'openadr: half SIMPLE at 1:40 (target <= 3 kW, seen after 1 s), gone SIMPLE at 3:20 (refused by the VTN)');
  assert.is(openAdrLine([]), 'openadr: no event created');
});

test.run();
