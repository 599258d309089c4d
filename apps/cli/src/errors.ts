/** A failure to report as one line on stderr, with exit code 1 (no stack). */
export class CliError extends Error {
  constructor(message: string) {
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
