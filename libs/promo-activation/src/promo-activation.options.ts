import { HttpPromoActivationOptions } from './http-promo-activation.adapter';

/** Options of {@link PromoActivationModule}; the app maps `PROMO_API_URL` and `PROMO_API_TOKEN` into them. */
export interface PromoActivationModuleOptions {
  /**
   * The HTTP promo system. Undefined means none is configured: `PromoActivationPort` is then provided as null, and a
   * policy that activates promos fails the start-up check of the decisions module.
   */
  promoSystem?: HttpPromoActivationOptions;
  /**
   * Record every activation in `promo_activations` (needs the global `DataSource` of the database module).
   * @default true
   */
  recordActivations?: boolean;
}
