import { Injectable } from '@nestjs/common';

/** Whether the process has begun shutting down; readiness reports 503 from that moment on. */
@Injectable()
export class ShutdownState {
  private shuttingDownSince: Date | undefined;

  get isShuttingDown(): boolean {
    return this.shuttingDownSince !== undefined;
  }

  begin(): void {
    this.shuttingDownSince ??= new Date();
  }
}
