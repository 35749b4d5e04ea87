// Package ops holds the operations over many sessions that the phpsess
// command line offers and that Go programs can call directly:
//
//   - Dump and Load: every session of a store as JSON lines (the dump
//     format, see Line), and back into the same or another store, keeping
//     each session's remaining lifetime; with raw payloads a restore is
//     byte-identical.
//   - Find: the sessions whose decoded data matches a Where expression
//     (see ParseWhere for the syntax), listed, destroyed, or changed with
//     Set assignments under the PHP side's lock.
//   - Detect: the store URL that a PHP application's own configuration
//     (php -i, php.ini, CodeIgniter 3 and 4 config files) describes, with
//     an explanation of each part. Config files are read as data: the
//     application's PHP code is never run.
//
// Everything streams: a store is listed with handlers.Lister and sessions
// are handled as they come, so memory stays flat however many sessions a
// store holds.
package ops
