// Number schemas. Rules: every number on the wire is finite (JSON cannot carry NaN or Infinity, but
// the schemas also validate in-memory objects); counters (`seq`, `fence`) are non-negative safe
// integers so they survive JSON and Redis unchanged.
import * as v from 'valibot';

const FINITE = 'expected a finite number';
const COUNTER = 'expected a non-negative safe integer';

export const FiniteNumberSchema = v.pipe(v.number(FINITE), v.finite(FINITE));

export const NonNegativeNumberSchema = v.pipe(
  v.number(FINITE),
  v.finite(FINITE),
  v.minValue(0, 'expected a number of at least 0'),
);

export const CounterSchema = v.pipe(v.number(COUNTER), v.safeInteger(COUNTER), v.minValue(0, COUNTER));
