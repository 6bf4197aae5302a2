import { BreakerState, CircuitBreaker } from './circuit-breaker';

describe(CircuitBreaker.name, () => {
  let now: number;
  let changes: BreakerState[];
  let sut: CircuitBreaker;

  beforeEach(() => {
    now = 0;
    changes = [];
    sut = new CircuitBreaker({
      failureThreshold: 3,
      openMs: 1000,
      halfOpenSuccesses: 2,
      now: () => now,
      onStateChange: (state) => changes.push(state),
    });
  });

  const fail = (times: number): void => {
    for (let i = 0; i < times; i++) {
      sut.acquire()!.failure();
    }
  };

  it('should stay closed below the threshold and reset the count on a success', () => {
    fail(2);
    sut.acquire()!.success();
    fail(2);

    expect(sut.state).toBe('closed');
    expect(changes).toEqual([]);
  });

  it('should open after consecutive failures and refuse calls while open', () => {
    fail(3);

    expect(sut.state).toBe('open');
    expect(sut.acquire()).toBeNull();
    expect(changes).toEqual(['open']);
  });

  it('should let one probe through when half-open and close after enough successful probes', () => {
    fail(3);
    now = 1000;

    const probe = sut.acquire();
    const second = sut.acquire();
    probe!.success();
    sut.acquire()!.success();

    expect(second).toBeNull();
    expect(sut.state).toBe('closed');
    expect(changes).toEqual(['open', 'half-open', 'closed']);
  });

  it('should open again for a whole period when a probe fails', () => {
    fail(3);
    now = 1500;
    sut.acquire()!.failure();
    now = 2000;

    expect(sut.state).toBe('open');
    expect(sut.acquire()).toBeNull();
    now = 2500;
    expect(sut.state).toBe('half-open');
  });

  it('should count a permit once however often it is settled', () => {
    const permit = sut.acquire()!;
    permit.failure();
    permit.failure();
    permit.failure();

    expect(sut.state).toBe('closed');
  });

  it('should refuse nonsensical settings', () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(RangeError);
  });
});
