import { InitialSchema1764100000000 } from './1764100000000-InitialSchema';

/** Every migration, oldest first. Listed by hand so the build and jest load the same classes. */
export const MIGRATIONS = [InitialSchema1764100000000];
