/** $APIARY_LOG_FORMAT (or a format option) names no format. Its own module so that a command's error
 * handler can test for it without loading pino (logger.ts). */
export class LogFormatError extends Error {}
