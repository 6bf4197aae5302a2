import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `promo_activations.state` may be `skipped`: the gateway reserves a request's activation keys in the statement that
 * looks for an earlier answer, before the customer's checks have run; a key whose customer the checks then deny is
 * marked skipped (nothing was asked of the promo system under it).
 */
export class SkippedActivations1765100000000 implements MigrationInterface {
  name = 'SkippedActivations1765100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await this.replaceStateCheck(queryRunner, [...STATES, 'skipped']);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`UPDATE promo_activations SET state = 'pending' WHERE state = 'skipped'`);
    await this.replaceStateCheck(queryRunner, STATES);
  }

  private async replaceStateCheck(queryRunner: QueryRunner, states: readonly string[]): Promise<void> {
    const list = states.map((state) => `'${state}'`).join(', ');
    await queryRunner.query(`
      ALTER TABLE promo_activations
        DROP CONSTRAINT promo_activations_state_check,
        ADD CONSTRAINT promo_activations_state_check CHECK (state IN (${list}))`);
  }
}

const STATES = ['pending', 'activated', 'rejected', 'unavailable', 'cancelling', 'cancelled'];
