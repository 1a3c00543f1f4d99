export { systemClock, skewedClock, type Clock, type TimerHandle } from './clock.ts';
