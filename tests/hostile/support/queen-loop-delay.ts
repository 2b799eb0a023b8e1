// The queen's loop delay, where bench/figures/soak.ts imports it from.
export { queenLoopDelay } from "./loop-delay.js";
