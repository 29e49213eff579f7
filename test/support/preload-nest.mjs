/**
 * Evaluates Nest's ES modules before a test file's module graph is walked, so that the CommonJS @nestjs/throttler
 * finds them loaded when it require()s them (Jest >= 30 on Node >= 24.9; see jest.config.js).
 */
import '@nestjs/common';
import '@nestjs/core';
