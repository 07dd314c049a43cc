/**
 * Registers every kind Herald serves. Importing this module once (server, CLI) is enough;
 * a new kind adds one import here.
 */
import "./kinds.js";
import "../../sources/index.js";
