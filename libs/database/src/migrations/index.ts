import { InitialSchema1764777600000 } from './1764777600000-initial-schema';

/** Every migration, oldest first. Listed explicitly so that builds and tests load the same set. */
export const MIGRATIONS = [InitialSchema1764777600000];
