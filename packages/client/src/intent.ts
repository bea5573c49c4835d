// What this client holds and wants, kept across reconnects so a restore knows what to ask for.
// Rules: `session` is set by a join's ack and cleared by a leave's; `speaker` is the user commands
// speak for, from the moment join is called; `selection` and `viewers` follow the server's answers
// (select / unselect / join_viewer / leave_viewer acks, a lock lost, a conflict on restore), not
// the calls, so a restore asks only for what the server had granted.

import type { Session } from './restore.js';

export class Intent {
  session: Session | null = null;
  speaker: string | null = null;
  /** A token to take over a session held elsewhere, used by the first join only. */
  pendingResumeToken: string | undefined;
  selection: string | null = null;
  readonly viewers = new Set<string>();

  constructor(resumeToken: string | undefined) {
    this.pendingResumeToken = resumeToken;
  }

  left(): void {
    this.session = null;
    this.speaker = null;
    this.selection = null;
    this.viewers.clear();
  }

  snapshot(): { readonly selection: string | null; readonly viewers: readonly string[] } {
    return { selection: this.selection, viewers: [...this.viewers] };
  }
}
