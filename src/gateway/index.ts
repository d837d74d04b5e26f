export { createGateway, type Gateway, SUBPROTOCOL } from './gateway.ts';
export type { MetricEvent, MetricsOptions, MetricsSnapshot } from './metrics.ts';
export type { GatewayOptions } from './options.ts';
export { decodeCursor, encodeCursor, type SseOptions, sseRoutes } from './sse.ts';
