// Every wire message, once: its name in the generated files, its direction and its valibot schema.
// The valibot schemas stay the only definition of a shape; this list adds what they cannot say
// (a one-line summary for the docs) and is what the generators iterate over, so a message missing
// here is missing from docs/schemas and docs/asyncapi.yaml — the drift test then fails.
import type { GenericSchema } from 'valibot';
import {
  AckMessageSchema,
  CameraMessageSchema,
  CameraRelayMessageSchema,
  CameraStateSchema,
  ConflictMessageSchema,
  ErrorMessageSchema,
  HeartbeatMessageSchema,
  IdSchema,
  JoinMessageSchema,
  JoinViewerMessageSchema,
  LeaveMessageSchema,
  LeaveViewerMessageSchema,
  LockInfoSchema,
  PresenceMessageSchema,
  PresenceUserSchema,
  QuatSchema,
  ResumeTokenSchema,
  RidSchema,
  SelectionStateMessageSchema,
  SelectMessageSchema,
  UnselectMessageSchema,
  UserProfileSchema,
  Vec3Schema,
  ViewerCamerasMessageSchema,
} from '../src/index.js';

/** `client`: a client sends it and the server accepts it; `server`: the server sends it. */
export type Direction = 'client' | 'server';

export interface MessageSpec {
  /** Unique across both directions: the file name stem and the AsyncAPI message id. */
  readonly id: string;
  /** The `type` field on the wire. */
  readonly type: string;
  readonly direction: Direction;
  /** The component name of the payload schema. */
  readonly component: string;
  readonly schema: GenericSchema;
  readonly summary: string;
}

export const MESSAGES: readonly MessageSpec[] = [
  {
    id: 'join',
    type: 'join',
    direction: 'client',
    component: 'JoinMessage',
    schema: JoinMessageSchema,
    summary: 'Join a room as a user, update the profile, or take the user over with its resumeToken.',
  },
  {
    id: 'leave',
    type: 'leave',
    direction: 'client',
    component: 'LeaveMessage',
    schema: LeaveMessageSchema,
    summary: 'Leave the room; the connection stays open and unbound.',
  },
  {
    id: 'select',
    type: 'select',
    direction: 'client',
    component: 'SelectMessage',
    schema: SelectMessageSchema,
    summary: "Select a planet: take its lock (exclusive mode), or renew the sender's own lock.",
  },
  {
    id: 'unselect',
    type: 'unselect',
    direction: 'client',
    component: 'UnselectMessage',
    schema: UnselectMessageSchema,
    summary: 'Release the selection of a planet.',
  },
  {
    id: 'join_viewer',
    type: 'join_viewer',
    direction: 'client',
    component: 'JoinViewerMessage',
    schema: JoinViewerMessageSchema,
    summary: "Become a viewer of a planet and receive the other viewers' last cameras.",
  },
  {
    id: 'leave_viewer',
    type: 'leave_viewer',
    direction: 'client',
    component: 'LeaveViewerMessage',
    schema: LeaveViewerMessageSchema,
    summary: 'Stop viewing a planet.',
  },
  {
    id: 'camera',
    type: 'camera',
    direction: 'client',
    component: 'CameraMessage',
    schema: CameraMessageSchema,
    summary: "A viewer's camera, relayed (throttled) to the planet's other viewers; never acknowledged.",
  },
  {
    id: 'heartbeat',
    type: 'heartbeat',
    direction: 'client',
    component: 'HeartbeatMessage',
    schema: HeartbeatMessageSchema,
    summary: 'Keep the user present and renew its lock; send one every 30 s.',
  },
  {
    id: 'presence',
    type: 'presence',
    direction: 'server',
    component: 'PresenceMessage',
    schema: PresenceMessageSchema,
    summary: "The room's users, ordered by joinedAt then userId.",
  },
  {
    id: 'selection_state',
    type: 'selection_state',
    direction: 'server',
    component: 'SelectionStateMessage',
    schema: SelectionStateMessageSchema,
    summary: 'The planets that have a selector, and who selects them.',
  },
  {
    id: 'viewer_cameras',
    type: 'viewer_cameras',
    direction: 'server',
    component: 'ViewerCamerasMessage',
    schema: ViewerCamerasMessageSchema,
    summary: "A snapshot of a planet's viewers' last cameras (never the recipient's own).",
  },
  {
    id: 'camera_relay',
    type: 'camera',
    direction: 'server',
    component: 'CameraRelayMessage',
    schema: CameraRelayMessageSchema,
    summary: "Another viewer's camera on a planet the recipient views.",
  },
  {
    id: 'conflict',
    type: 'conflict',
    direction: 'server',
    component: 'ConflictMessage',
    schema: ConflictMessageSchema,
    summary: 'The answer to a select of a planet another user holds; nothing changed.',
  },
  {
    id: 'ack',
    type: 'ack',
    direction: 'server',
    component: 'AckMessage',
    schema: AckMessageSchema,
    summary: 'The answer to a command that succeeded.',
  },
  {
    id: 'error',
    type: 'error',
    direction: 'server',
    component: 'ErrorMessage',
    schema: ErrorMessageSchema,
    summary: 'The answer to a refused command or frame.',
  },
];

/** Shapes used by several messages: AsyncAPI components that the payloads reference. */
export const SHARED_COMPONENTS: Readonly<Record<Direction, Record<string, GenericSchema>>> = {
  client: {
    Id: IdSchema,
    Rid: RidSchema,
    ResumeToken: ResumeTokenSchema,
    Vec3: Vec3Schema,
    Quat: QuatSchema,
    CameraState: CameraStateSchema,
    UserProfile: UserProfileSchema,
  },
  server: {
    Id: IdSchema,
    Rid: RidSchema,
    ResumeToken: ResumeTokenSchema,
    Vec3: Vec3Schema,
    Quat: QuatSchema,
    CameraState: CameraStateSchema,
    PresenceUser: PresenceUserSchema,
    LockInfo: LockInfoSchema,
  },
};
