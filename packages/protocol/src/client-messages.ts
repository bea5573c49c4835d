// Client → server messages: the seed's shapes plus `rid` on every one (contract §2) and the join's
// `resumeToken` for a takeover (contract §4). Every object is strict, so an unknown key anywhere is a
// BAD_MESSAGE. `ClientMessageSchema` is for SDKs and JSON Schema; the server's hot path dispatches on
// `type` itself (see parse.ts) to tell UNKNOWN_TYPE from a bad shape.
import * as v from 'valibot';
import { CameraStateSchema } from './camera.js';
import { IdSchema, ResumeTokenSchema, RidSchema } from './ids.js';
import { FiniteNumberSchema } from './numbers.js';
import { UserProfileSchema } from './profile.js';
import { strictShape } from './shapes.js';

const rid = v.exactOptional(RidSchema);

export const JoinMessageSchema = strictShape({
  type: v.literal('join'),
  roomId: IdSchema,
  user: UserProfileSchema,
  resumeToken: v.exactOptional(ResumeTokenSchema),
  rid,
});
export type JoinMessage = v.InferOutput<typeof JoinMessageSchema>;

export const LeaveMessageSchema = strictShape({ type: v.literal('leave'), userId: IdSchema, rid });
export type LeaveMessage = v.InferOutput<typeof LeaveMessageSchema>;

export const SelectMessageSchema = strictShape({
  type: v.literal('select'),
  planetId: IdSchema,
  userId: IdSchema,
  rid,
});
export type SelectMessage = v.InferOutput<typeof SelectMessageSchema>;

export const UnselectMessageSchema = strictShape({
  type: v.literal('unselect'),
  planetId: IdSchema,
  userId: IdSchema,
  rid,
});
export type UnselectMessage = v.InferOutput<typeof UnselectMessageSchema>;

export const JoinViewerMessageSchema = strictShape({
  type: v.literal('join_viewer'),
  planetId: IdSchema,
  userId: IdSchema,
  rid,
});
export type JoinViewerMessage = v.InferOutput<typeof JoinViewerMessageSchema>;

export const LeaveViewerMessageSchema = strictShape({
  type: v.literal('leave_viewer'),
  planetId: IdSchema,
  userId: IdSchema,
  rid,
});
export type LeaveViewerMessage = v.InferOutput<typeof LeaveViewerMessageSchema>;

export const CameraMessageSchema = strictShape({
  type: v.literal('camera'),
  planetId: IdSchema,
  camera: CameraStateSchema,
  userId: IdSchema,
  rid,
});
export type CameraMessage = v.InferOutput<typeof CameraMessageSchema>;

export const HeartbeatMessageSchema = strictShape({
  type: v.literal('heartbeat'),
  userId: IdSchema,
  ts: FiniteNumberSchema,
  rid,
});
export type HeartbeatMessage = v.InferOutput<typeof HeartbeatMessageSchema>;

export const ClientMessageSchema = v.variant('type', [
  JoinMessageSchema,
  LeaveMessageSchema,
  SelectMessageSchema,
  UnselectMessageSchema,
  JoinViewerMessageSchema,
  LeaveViewerMessageSchema,
  CameraMessageSchema,
  HeartbeatMessageSchema,
]);
export type ClientMessage = v.InferOutput<typeof ClientMessageSchema>;
