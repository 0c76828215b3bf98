import type pg from 'pg';

/**
 * Tables for writes made by a deferred trigger: `accounts` (ids 1 to `accounts`, balance 0) and `payouts`, whose
 * deferred constraint trigger takes one from the balance of the account of the payout's id when the transaction
 * commits. Created through `owner` (the application role, so that it owns them); track `public.accounts` to record
 * the trigger's writes.
 */
export async function createDeferredPayouts(owner: pg.Pool, accounts: number): Promise<void> {
  await owner.query('CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL DEFAULT 0)');
  await owner.query('INSERT INTO accounts SELECT g FROM generate_series(1, $1::int) g', [accounts]);
  await owner.query('CREATE TABLE payouts (id int PRIMARY KEY)');
  await owner.query(`CREATE FUNCTION pay_out() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN UPDATE accounts SET balance = balance - 1 WHERE id = NEW.id; RETURN NULL; END $$`);
  await owner.query(`CREATE CONSTRAINT TRIGGER pay_out AFTER INSERT ON payouts DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION pay_out()`);
}
