// Package dep does not compile: x.Wait is declared over its broken type.
package dep

type Level undefinedLevel
