import { AnswerSlot } from './answer-slot';

describe(AnswerSlot.name, () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('should stop the checks at their end, then answer TIMEOUT at the cutoff', async () => {
    const slot = new AnswerSlot(Date.now() + 100, Date.now() + 60);
    slot.start();

    jest.advanceTimersByTime(59);
    expect(slot.control.signal.aborted).toBe(false);
    jest.advanceTimersByTime(1);
    expect(slot.control.signal.aborted).toBe(true);
    expect(slot.isSettled).toBe(false);
    jest.advanceTimersByTime(40);

    await expect(slot.answer).resolves.toEqual({ allowed: false, reason: 'TIMEOUT' });
    expect(slot.expiredFirst).toBe(true);
  });

  it('should abort and expire nothing once stopped', async () => {
    const slot = new AnswerSlot(Date.now() + 100, Date.now() + 60);
    slot.start();
    slot.settle({ allowed: true, reason: 'NONE' });
    slot.stop();

    jest.advanceTimersByTime(1000);

    await expect(slot.answer).resolves.toEqual({ allowed: true, reason: 'NONE' });
    expect(slot.control.signal.aborted).toBe(false);
    expect(slot.expired).toBe(false);
  });

  it('should not expire once stopped after the checks ended, nor start twice', () => {
    const slot = new AnswerSlot(Date.now() + 100, Date.now() + 60);
    slot.start();
    jest.advanceTimersByTime(70);
    slot.settle({ allowed: false, reason: 'PROMO_UNAVAILABLE' });
    slot.stop();

    jest.advanceTimersByTime(1000);

    expect(slot.control.signal.aborted).toBe(true);
    expect(slot.expired).toBe(false);
    expect(() => slot.start()).toThrow('already started');
  });

  it('should expire at once when started with no budget left', async () => {
    const slot = new AnswerSlot(Date.now(), Date.now());
    slot.start();

    expect(slot.control.signal.aborted).toBe(true);
    await expect(slot.answer).resolves.toEqual({ allowed: false, reason: 'TIMEOUT' });
  });
});
