/** A failure to report on stderr, with exit code 1 unless told (no stack). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** An error the API answered, with its `extensions.code`. */
export class ApiError extends CliError {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(`${message} (${code})`);
    this.name = 'ApiError';
  }
}
