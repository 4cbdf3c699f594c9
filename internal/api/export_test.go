package api

// NewCache is the API server's cache, for tests of what it keeps.
var NewCache = newCache

// Strip is the cache's transform of an object.
var Strip = strip
