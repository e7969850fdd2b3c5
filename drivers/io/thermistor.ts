/**
 * NTC thermistor on an analog input, converted to °C with the beta (B-parameter) equation:
 *
 *   1/T = 1/T0 + ln(R/R0) / B          (T in kelvin)
 *
 * Wiring assumed (the usual Arduino thermistor divider, e.g. Adafruit's "Using a Thermistor"):
 * a fixed series resistor from the ADC reference to the input, the NTC from the input to ground,
 * so  raw / full = R / (R + Rseries)  and  R = Rseries · raw / (full − raw).
 *
 * Defaults are the common 10 kΩ, B = 3950 K epoxy NTC ("NTC 3950", e.g. the part sold as
 * Adafruit 372: R25 = 10 kΩ ±1 %, B25/50 = 3950 K) with a 10 kΩ series resistor, read by a
 * 10-bit ADC (ATmega328P/2560 datasheet §ADC: full scale 1023). Over 0-100 °C the beta equation
 * stays within about ±1 °C of the maker's R/T table, enough for fan and over-temperature control.
 */
export interface ThermistorCurve {
  /** resistance at t0C (ohm), default 10000 */
  r0: number;
  /** reference temperature of r0 (°C), default 25 */
  t0C: number;
  /** B constant (K), default 3950 */
  beta: number;
  /** series (pull-up) resistor (ohm), default 10000 */
  rSeries: number;
}

export const DEFAULT_THERMISTOR: ThermistorCurve = { r0: 10_000, t0C: 25, beta: 3950, rSeries: 10_000 };

const KELVIN = 273.15;

/**
 * ADC counts -> °C. Readings at the rails (open or shorted thermistor, broken wire) give NaN:
 * an unknown temperature, never a plausible-looking wrong one.
 */
export function countsToCelsius(raw: number, adcMax = 1023, c: ThermistorCurve = DEFAULT_THERMISTOR): number {
  if (!Number.isFinite(raw) || raw <= 0 || raw >= adcMax) return NaN;
  const r = (c.rSeries * raw) / (adcMax - raw);
  const invT = 1 / (c.t0C + KELVIN) + Math.log(r / c.r0) / c.beta;
  return 1 / invT - KELVIN;
}

/** °C -> ADC counts (the inverse, for tests and calibration tables) */
export function celsiusToCounts(tC: number, adcMax = 1023, c: ThermistorCurve = DEFAULT_THERMISTOR): number {
  const r = c.r0 * Math.exp(c.beta * (1 / (tC + KELVIN) - 1 / (c.t0C + KELVIN)));
  return Math.round((adcMax * r) / (r + c.rSeries));
}
