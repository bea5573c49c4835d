// Compile-time checks that the inferred types keep the shapes other packages import; the
// assertions run under `tsc`, and vitest only sees that they do not throw.
import { describe, expectTypeOf, it } from 'vitest';
import type {
  AckMessage,
  CameraMessage,
  CameraState,
  ClientMessage,
  ClientMessageType,
  ErrorCode,
  ErrorMessage,
  HeartbeatMessage,
  JoinMessage,
  LockInfo,
  PresenceUser,
  ProtocolError,
  Rid,
  SelectionStateMessage,
  ServerMessage,
  UserProfile,
  ViewerCamerasMessage,
} from './index.js';

type Vec3 = [number, number, number];

describe('inferred types', () => {
  it('match the published shapes', () => {
    expectTypeOf<Rid>().toEqualTypeOf<string | number>();
    expectTypeOf<UserProfile>().toEqualTypeOf<{
      userId: string;
      name?: string;
      color?: string;
      avatarUrl?: string;
    }>();
    expectTypeOf<CameraState>().toEqualTypeOf<{
      position: Vec3;
      target?: Vec3;
      up?: Vec3;
      quaternion?: [number, number, number, number];
      fov?: number;
      zoom?: number;
    }>();
    expectTypeOf<JoinMessage>().toEqualTypeOf<{
      type: 'join';
      roomId: string;
      user: UserProfile;
      resumeToken?: string;
      rid?: Rid;
    }>();
    expectTypeOf<CameraMessage>().toEqualTypeOf<{
      type: 'camera';
      planetId: string;
      camera: CameraState;
      userId: string;
      rid?: Rid;
    }>();
    expectTypeOf<HeartbeatMessage>().toEqualTypeOf<{
      type: 'heartbeat';
      userId: string;
      ts: number;
      rid?: Rid;
    }>();
    expectTypeOf<ClientMessage['type']>().toEqualTypeOf<ClientMessageType>();
    expectTypeOf<PresenceUser>().toEqualTypeOf<
      UserProfile & { joinedAt: number; lastSeen: number; connected: boolean } extends infer T
        ? { [K in keyof T]: T[K] }
        : never
    >();
    expectTypeOf<SelectionStateMessage['selected']>().toEqualTypeOf<Record<string, string[]>>();
    expectTypeOf<ViewerCamerasMessage['cameras']>().toEqualTypeOf<Record<string, CameraState>>();
    expectTypeOf<LockInfo>().toEqualTypeOf<{ planetId: string; expiresAt: number; fence?: number }>();
    expectTypeOf<AckMessage['op']>().toEqualTypeOf<ClientMessageType>();
    expectTypeOf<ErrorMessage['code']>().toEqualTypeOf<ErrorCode>();
    expectTypeOf<ServerMessage['type']>().toEqualTypeOf<
      'presence' | 'selection_state' | 'viewer_cameras' | 'camera' | 'conflict' | 'ack' | 'error'
    >();
    expectTypeOf<ProtocolError['code']>().toEqualTypeOf<'BAD_JSON' | 'BAD_MESSAGE' | 'UNKNOWN_TYPE'>();
  });
});
