/**
 * The rows of a statement run through TypeORM's `query`. For UPDATE and DELETE it answers `[rows, rowCount]`
 * instead of the rows, so `UPDATE ... RETURNING` needs this to read what it returned.
 */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') {
    return result[0] as T[];
  }

  return result as T[];
}
