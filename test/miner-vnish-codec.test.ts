import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PresetSettings, presetAt, scaleOf, usablePresets } from '../drivers/miner/vnish';
import { isVnishFirmware, parseInfo, parsePresets, parseSettings, parseSummary, refusalOf, type Preset } from '../drivers/miner/vnish/reply';

/**
 * VNish's replies and its preset scale, as pure functions: the shapes of VNish's API reference
 * (a fresh S19's preset list and summary), the forms pyasic copes with, and the scale's promise
 * that stepping from `min` reaches every preset.
 */
const p = (watts: number, tuned = true, moddedPsu = false): Preset => ({ name: String(watts), watts, ths: NaN, tuned, moddedPsu });

test('The preset list of the API reference parses to its powers; "disabled" (manual) and entries without a power are left out', () => {
  const list = [
    { name: 'disabled', pretty: 'Disabled', status: 'untuned', modded_psu_required: false },
    { name: '1100', pretty: '1100 watt ~ 53 TH', status: 'untuned', modded_psu_required: false },
    { name: '2350', pretty: '2350 watt ~ 85 TH', status: 'tuned', modded_psu_required: false },
    { name: 'eco', pretty: '1800 watt ~ 66 TH', status: 'tuned', modded_psu_required: false },
    { name: '4690', pretty: '4690 watt ~ 124 TH', status: 'tuned', modded_psu_required: true },
    { name: 'odd', pretty: 'no power here' },
    7,
  ];
  const parsed = parsePresets(list);
  assert.equal(parsed.map((x) => [x.name, x.watts, x.ths, x.tuned, x.moddedPsu]), [
    ['1100', 1100, 53, false, false],
    ['2350', 2350, 85, true, false],
    ['eco', 1800, 66, true, false],
    ['4690', 4690, 124, true, true],
  ]);
  assert.equal(parsePresets({ presets: list }), parsed, 'the { presets } form some builds send');
  assert.throws(() => parsePresets({ presets: 'x' }), /not a list/);
});

test('The scale is the tuned stock-PSU presets, stepped by their smallest gap, and stepping from min lands on every one of them', () => {
  const presets = usablePresets([p(1100, false), p(1900), p(2350), p(2620), p(2950), p(3250), p(3600, true, true)]);
  assert.equal(presets.map((x) => x.watts), [1900, 2350, 2620, 2950, 3250]);
  const scale = scaleOf(presets, 3250);
  assert.equal([scale.min, scale.max, scale.step], [1900, 3250, 270]);
  const reached = new Set<number>();
  for (let s = scale.min; s <= scale.max; s += scale.step) reached.add(presetAt(scale, s)!.watts);
  assert.equal([...reached], [1900, 2350, 2620, 2950, 3250]);
  // a top preset off the grid is still reached: max is the first step at or above it
  const off = scaleOf(usablePresets([p(1000), p(1500), p(1800)]), 0);
  assert.equal([off.min, off.max, off.step], [1000, 1900, 300]);
  assert.is(presetAt(off, off.max)!.watts, 1800);
  assert.is(presetAt(off, 500)!.watts, 1000, 'under the scale: its lowest preset');
});

test('With no preset tuned every stock-PSU one is offered; with none at all the scale is one point at the fallback', () => {
  assert.equal(usablePresets([p(3000, false), p(2000, false), p(4000, false, true)]).map((x) => x.watts), [2000, 3000]);
  assert.equal(usablePresets([p(2000), p(2000, false)]).length, 1, 'one preset per power');
  const none = scaleOf([], 3250);
  assert.equal([none.min, none.max, none.step], [3250, 3250, 1]);
  const settings = new PresetSettings(none, 0.02);
  assert.is(settings.kwAt(3250), 3.25);
  assert.is(settings.kwAt(0), 0.02);
  settings.scale = scaleOf([p(1500), p(2500)], 3250);
  assert.equal([settings.min, settings.max, settings.step, settings.kwAt(2000)], [1500, 2500, 1000, 1.5], 'read through after the presets change');
});

test('A summary reads power, hashrate in its hr_measure unit and the hottest sensor; absurd numbers read as unknown', () => {
  const summary = {
    miner: {
      miner_status: { miner_state: 'Mining' }, hr_realtime: 104000.5, power_consumption: 3120, power_usage: 9,
      chip_temp: { min: 55, max: 71 }, pcb_temp: { min: 40, max: 58 },
    },
  };
  assert.equal(parseSummary(summary, parseInfo({ hr_measure: 'GH/s' }).toTh), { state: 'mining', description: '', watts: 3120, ths: 104.0005, tempC: 71 });
  assert.is(parseSummary({ miner: { ...summary.miner, hr_realtime: 0.2 } }, parseInfo({ hr_measure: 'PH/s' }).toTh).ths, 200);
  const older = parseSummary({ miner: { miner_status: { miner_state: 'stopped' }, power_usage: '146', instant_hashrate: 0 } }, 1e-3);
  assert.equal([older.watts, older.ths, older.tempC], [146, 0, NaN]);
  const absurd = parseSummary({ miner: { miner_status: { miner_state: 'mining' }, power_consumption: 1e9, hr_realtime: 1e15, chip_temp: { max: 400 } } }, 1e-3);
  assert.ok(Number.isNaN(absurd.watts) && Number.isNaN(absurd.ths) && Number.isNaN(absurd.tempC));
});

test('Info names the firmware; settings carry the preset and the overclock to send back', () => {
  assert.ok(isVnishFirmware(parseInfo({ fw_name: 'Vnish', fw_version: '1.2.6' })));
  assert.ok(isVnishFirmware(parseInfo({ fw_name: 'AnthillOS' })));
  assert.not.ok(isVnishFirmware(parseInfo({ fw_name: 'LuxOS' })));
  assert.not.ok(isVnishFirmware(parseInfo({})));
  assert.throws(() => parseInfo('Vnish'), /not a JSON object/);
  const st = parseSettings({ miner: { overclock: { preset: 2350, globals: { volt: 1380, freq: 675 } } } });
  assert.equal(st, { preset: '2350', overclock: { preset: 2350, globals: { volt: 1380, freq: 675 } } });
  assert.throws(() => parseSettings({ miner: { overclock: {} } }), /no miner\.overclock\.preset/);
});

test('A control reply is taken when it is one of the firmware\'s uninformative ones, and refused when it says err or is not JSON', () => {
  for (const ok of ['', '  ', '{}', '{"success":true}', '{"restart_required":false,"reboot_required":false}', '[]']) assert.is(refusalOf(ok), undefined, ok);
  assert.equal(refusalOf('{"err":"CGMiner err: Cgminer error failed-to-activate-pause-mode "}'), { why: 'firmware said: CGMiner err: Cgminer error failed-to-activate-pause-mode', invalid: false });
  assert.equal(refusalOf('{"success":false}')?.invalid, false);
  assert.equal(refusalOf('<html>')?.invalid, true);
  assert.equal(refusalOf('42')?.invalid, true);
});

test.run();
