// A viewer's camera (contract §2): `position` is required, the rest optional; every number is
// finite, 0 < fov < 180 (degrees) and zoom > 0. Tuples have exactly 3 (Vec3) or 4 (Quat) items.
import * as v from 'valibot';
import { FiniteNumberSchema } from './numbers.js';
import { fixedTuple, strictShape } from './shapes.js';

export const Vec3Schema = fixedTuple(
  [FiniteNumberSchema, FiniteNumberSchema, FiniteNumberSchema],
  '3 numbers',
);
export type Vec3 = v.InferOutput<typeof Vec3Schema>;

export const QuatSchema = fixedTuple(
  [FiniteNumberSchema, FiniteNumberSchema, FiniteNumberSchema, FiniteNumberSchema],
  '4 numbers',
);
export type Quat = v.InferOutput<typeof QuatSchema>;

const FOV = 'expected a number of degrees between 0 and 180, both excluded';
export const FovSchema = v.pipe(FiniteNumberSchema, v.gtValue(0, FOV), v.ltValue(180, FOV));

export const ZoomSchema = v.pipe(FiniteNumberSchema, v.gtValue(0, 'expected a number greater than 0'));

export const CameraStateSchema = strictShape({
  position: Vec3Schema,
  target: v.exactOptional(Vec3Schema),
  up: v.exactOptional(Vec3Schema),
  quaternion: v.exactOptional(QuatSchema),
  fov: v.exactOptional(FovSchema),
  zoom: v.exactOptional(ZoomSchema),
});
export type CameraState = v.InferOutput<typeof CameraStateSchema>;
