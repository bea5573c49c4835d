// @exo/room-core: rooms, locks with TTL, presence expiry and camera sync as deterministic state
// transitions. No I/O, no timers, no clock of its own: the shell passes time in with every command.

export {
  applyRoom,
  type RoomBinding,
  type RoomCommand,
  type RoomContext,
  type RoomTransition,
} from './cluster/apply.js';
export {
  type CameraLookup,
  type DocMember,
  type DocSelection,
  loadRoom,
  NO_CAMERAS,
  type RoomDoc,
  roomDeadline,
  saveRoom,
} from './cluster/doc.js';
export type {
  CloseCommand,
  CloseKind,
  Command,
  ConnAuth,
  ConnId,
  FrameCommand,
  OpenCommand,
  TickCommand,
} from './commands.js';
export {
  CONFIG_MINIMUMS,
  ConfigError,
  type CoreConfig,
  DEFAULT_CONFIG,
  resolveConfig,
  type SelectionMode,
} from './config.js';
export { nextDeadline } from './deadline.js';
export { CLOSE_CODES, type CloseCode, type CloseEffect, type Effect, type SendEffect } from './effects.js';
export {
  type Clock,
  CountingTokens,
  type EngineOptions,
  ManualClock,
  RoomEngine,
  type TokenSource,
} from './engine.js';
export { type Admission, admit, createBudgets, type FrameBudgets } from './frame.js';
export { type CoreSnapshot, inspect, type MemberSnapshot, type RoomSnapshot } from './inspect.js';
export { type CoreState, createState } from './state.js';
export { type CoreStats, stats } from './stats.js';
export { step } from './step.js';
