// Server → client messages (seed shapes, completed by contract §2–§7). They are strict like the
// client's: the server's tests use them to prove it sends nothing extra, and an SDK validating a
// frame fails loudly on a server it does not understand (the subprotocol `exo.v1` pins the shapes).
// `presence.users` is ordered by joinedAt then userId, and `seq` only grows per room; those are
// ordering promises of the server, not checked here.
import * as v from 'valibot';
import { CameraStateSchema } from './camera.js';
import { ClientMessageTypeSchema, ErrorCodeSchema } from './codes.js';
import { idRecord } from './id-record.js';
import { IdSchema, ResumeTokenSchema, RidSchema } from './ids.js';
import { CounterSchema, FiniteNumberSchema, NonNegativeNumberSchema } from './numbers.js';
import { UserProfileSchema } from './profile.js';
import { strictShape } from './shapes.js';

const rid = v.exactOptional(RidSchema);

export const PresenceUserSchema = strictShape({
  ...UserProfileSchema.entries,
  joinedAt: FiniteNumberSchema,
  lastSeen: FiniteNumberSchema,
  connected: v.boolean('expected a boolean'),
});
export type PresenceUser = v.InferOutput<typeof PresenceUserSchema>;

export const PresenceMessageSchema = strictShape({
  type: v.literal('presence'),
  users: v.array(PresenceUserSchema, 'expected an array'),
  seq: CounterSchema,
});
export type PresenceMessage = v.InferOutput<typeof PresenceMessageSchema>;

export const SelectionStateMessageSchema = strictShape({
  type: v.literal('selection_state'),
  selected: idRecord(v.array(IdSchema, 'expected an array of user ids')),
  seq: CounterSchema,
});
export type SelectionStateMessage = v.InferOutput<typeof SelectionStateMessageSchema>;

export const ViewerCamerasMessageSchema = strictShape({
  type: v.literal('viewer_cameras'),
  planetId: IdSchema,
  cameras: idRecord(CameraStateSchema),
  seq: CounterSchema,
});
export type ViewerCamerasMessage = v.InferOutput<typeof ViewerCamerasMessageSchema>;

export const CameraRelayMessageSchema = strictShape({
  type: v.literal('camera'),
  planetId: IdSchema,
  camera: CameraStateSchema,
  userId: IdSchema,
});
export type CameraRelayMessage = v.InferOutput<typeof CameraRelayMessageSchema>;

export const ConflictMessageSchema = strictShape({
  type: v.literal('conflict'),
  planetId: IdSchema,
  lockedBy: IdSchema,
  reason: v.literal('locked'),
  expiresAt: FiniteNumberSchema,
  rid,
});
export type ConflictMessage = v.InferOutput<typeof ConflictMessageSchema>;

export const LockInfoSchema = strictShape({
  planetId: IdSchema,
  expiresAt: FiniteNumberSchema,
  fence: v.exactOptional(CounterSchema),
});
export type LockInfo = v.InferOutput<typeof LockInfoSchema>;

export const AckMessageSchema = strictShape({
  type: v.literal('ack'),
  op: ClientMessageTypeSchema,
  ok: v.literal(true),
  rid,
  ts: v.exactOptional(FiniteNumberSchema),
  serverTs: v.exactOptional(FiniteNumberSchema),
  expiresAt: v.exactOptional(FiniteNumberSchema),
  fence: v.exactOptional(CounterSchema),
  resumeToken: v.exactOptional(ResumeTokenSchema),
  lock: v.exactOptional(LockInfoSchema),
  viewing: v.exactOptional(v.array(IdSchema, 'expected an array of planet ids')),
});
export type AckMessage = v.InferOutput<typeof AckMessageSchema>;

export const ErrorMessageSchema = strictShape({
  type: v.literal('error'),
  op: v.exactOptional(v.string('expected a string')),
  ok: v.literal(false),
  code: ErrorCodeSchema,
  message: v.string('expected a string'),
  rid,
  retryAfterMs: v.exactOptional(NonNegativeNumberSchema),
});
export type ErrorMessage = v.InferOutput<typeof ErrorMessageSchema>;

export const ServerMessageSchema = v.variant('type', [
  PresenceMessageSchema,
  SelectionStateMessageSchema,
  ViewerCamerasMessageSchema,
  CameraRelayMessageSchema,
  ConflictMessageSchema,
  AckMessageSchema,
  ErrorMessageSchema,
]);
export type ServerMessage = v.InferOutput<typeof ServerMessageSchema>;
