export { ClearanceIntake } from './clearance-intake.service';
export type { IntakeResult } from './clearance-intake.service';
export { MalformedNotificationError, parseEventNotification } from './event-notification';
export type { EventNotification } from './event-notification';
export { ScheduledClearanceModule } from './scheduled-clearance.module';
export type { ScheduledClearanceOptions } from './scheduled-clearance.options';
export { ClearanceRepository, LeaseLostError } from './clearance.repository';
export type { FetchLease, SliceLease, StoredCustomer } from './clearance.repository';
