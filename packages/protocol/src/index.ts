// @exo/protocol: the wire format of the ExoArchive Pocket realtime server, shared by server and
// clients. Schemas are valibot (validate anything, generate JSON Schema later); types are inferred
// from them, so a type and its runtime check cannot drift apart.
export {
  type CameraState,
  CameraStateSchema,
  FovSchema,
  type Quat,
  QuatSchema,
  type Vec3,
  Vec3Schema,
  ZoomSchema,
} from './camera.js';
export {
  type CameraMessage,
  CameraMessageSchema,
  type ClientMessage,
  ClientMessageSchema,
  type HeartbeatMessage,
  HeartbeatMessageSchema,
  type JoinMessage,
  JoinMessageSchema,
  type JoinViewerMessage,
  JoinViewerMessageSchema,
  type LeaveMessage,
  LeaveMessageSchema,
  type LeaveViewerMessage,
  LeaveViewerMessageSchema,
  type SelectMessage,
  SelectMessageSchema,
  type UnselectMessage,
  UnselectMessageSchema,
} from './client-messages.js';
export {
  CLIENT_MESSAGE_TYPES,
  type ClientMessageType,
  ClientMessageTypeSchema,
  ERROR_CODES,
  type ErrorCode,
  ErrorCodeSchema,
} from './codes.js';
export { idRecord } from './id-record.js';
export { ID_PATTERN, IdSchema, ResumeTokenSchema, type Rid, RidSchema } from './ids.js';
export { CounterSchema, FiniteNumberSchema, NonNegativeNumberSchema } from './numbers.js';
export { type ParseResult, type ProtocolError, parseClientMessage, parseClientValue } from './parse.js';
export { AvatarUrlSchema, ColorSchema, NameSchema, type UserProfile, UserProfileSchema } from './profile.js';
export { serializeServerMessage } from './serialize.js';
export {
  type AckMessage,
  AckMessageSchema,
  type CameraRelayMessage,
  CameraRelayMessageSchema,
  type ConflictMessage,
  ConflictMessageSchema,
  type ErrorMessage,
  ErrorMessageSchema,
  type LockInfo,
  LockInfoSchema,
  type PresenceMessage,
  PresenceMessageSchema,
  type PresenceUser,
  PresenceUserSchema,
  type SelectionStateMessage,
  SelectionStateMessageSchema,
  type ServerMessage,
  ServerMessageSchema,
  type ViewerCamerasMessage,
  ViewerCamerasMessageSchema,
} from './server-messages.js';
