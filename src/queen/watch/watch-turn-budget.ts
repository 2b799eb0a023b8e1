/**
 * How many watch events all Watch streams together may produce in one turn of the event loop.
 * Once a turn's budget is spent, streams wait for the next turn (setImmediate), so heartbeat
 * reads and acks, which arrive as I/O, run between two slices of fan-out however many watchers
 * there are: a burst of changes to deliver delays an ack by at most one slice.
 */
export class TurnBudget {
  private spent = 0;
  private turn: Promise<void> | undefined;

  constructor(readonly perTurn: number) {}

  /** Undefined while this turn has budget left; else a promise resolved in the next turn. */
  exhausted(): Promise<void> | undefined {
    if (this.spent < this.perTurn) return undefined;
    return this.arm();
  }

  /** Counts events produced in this turn. */
  spend(events: number): void {
    this.spent += events;
    this.arm();
  }

  /** One setImmediate per turn with watch traffic: it starts the next turn's budget and wakes the waiting streams. */
  private arm(): Promise<void> {
    if (!this.turn) {
      this.turn = new Promise<void>((resolve) =>
        setImmediate(() => {
          this.spent = 0;
          this.turn = undefined;
          resolve();
        }),
      );
    }
    return this.turn;
  }
}
