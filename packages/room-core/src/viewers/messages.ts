// `viewer_cameras`: the last camera of every other viewer of the planet that has sent one, never
// the recipient's own; keys in userId order in a prototype-free map.

import type { CameraState, ViewerCamerasMessage } from '@exo/protocol';
import { compareIds } from '../order.js';
import type { Member, Room } from '../state.js';

export function viewerCamerasMessage(room: Room, planetId: string, recipient: Member): ViewerCamerasMessage {
  const cameras: Record<string, CameraState> = Object.create(null);
  const viewers = room.viewers.get(planetId);
  if (viewers !== undefined) {
    for (const userId of [...viewers.keys()].sort(compareIds)) {
      const camera = viewers.get(userId)!.viewing.get(planetId)?.camera;
      if (userId !== recipient.userId && camera != null) cameras[userId] = camera;
    }
  }
  return { type: 'viewer_cameras', planetId, cameras, seq: room.seq };
}
