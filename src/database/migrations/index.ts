import { InitialSchema1795744808052 } from './1795744808052-InitialSchema.js';

/** Every migration, in order. `npm run migration:generate -- src/database/migrations/<Name>` writes a new file: add its class here. */
export const MIGRATIONS: Function[] = [InitialSchema1795744808052];
