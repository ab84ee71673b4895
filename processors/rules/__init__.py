"""The rules of the texts as pure functions: one module per aggregate (`decide` an event against
its state and `evolve` the state), the deadlines' arithmetic, the working-day calendar and the
verdicts. No I/O, no clock: the stages in processors/ call them with the state and the time."""
