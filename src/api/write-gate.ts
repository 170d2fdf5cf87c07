/**
 * Makes this process's vector index follow the order of the commits it mirrors. Index updates
 * happen after a commit, and two requests' continuations can run in either order: an addCaptions
 * committed just before a deleteImage could add its captions to the index after the delete has
 * removed them, leaving ghosts. Adds (shared) run side by side; a delete (exclusive) waits for the
 * adds in progress and runs alone, its transaction and its index update together. First come,
 * first served, so a stream of adds cannot starve a delete.
 */
export class WriteGate {
  private sharers = 0;
  private exclusiveHeld = false;
  private readonly waiting: { exclusive: boolean; enter: () => void }[] = [];

  shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.run(false, fn);
  }

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.run(true, fn);
  }

  private async run<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    await this.acquire(exclusive);
    try {
      return await fn();
    } finally {
      this.release(exclusive);
    }
  }

  private acquire(exclusive: boolean): Promise<void> {
    if (this.waiting.length === 0 && this.free(exclusive)) {
      this.take(exclusive);
      return Promise.resolve();
    }
    return new Promise((enter) => this.waiting.push({ exclusive, enter }));
  }

  private release(exclusive: boolean): void {
    if (exclusive) this.exclusiveHeld = false;
    else this.sharers--;
    while (this.waiting.length > 0 && this.free(this.waiting[0]!.exclusive)) {
      const next = this.waiting.shift()!;
      this.take(next.exclusive);
      next.enter();
    }
  }

  private free(exclusive: boolean): boolean {
    return exclusive ? !this.exclusiveHeld && this.sharers === 0 : !this.exclusiveHeld;
  }

  private take(exclusive: boolean): void {
    if (exclusive) this.exclusiveHeld = true;
    else this.sharers++;
  }
}
