/**
 * The controller's entry point loads this first: a controller runs as a production server unless
 * NODE_ENV says otherwise. graphql-js then leaves out its development-time checks (every
 * `instanceof` of a type during coercion also compares class names, to catch two copies of
 * graphql loaded at once: ~0.6 ms of a 500-rule policy's write). Apollo's choices that depend on
 * it are set explicitly (`graphql.config.ts`: introspection on, no stack traces in errors, no
 * landing page), so nothing else changes.
 */
process.env.NODE_ENV ??= 'production';
