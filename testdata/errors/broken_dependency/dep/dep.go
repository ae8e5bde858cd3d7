// Package dep does not compile: the field of x.T uses its broken type.
package dep

type Level undefinedLevel
