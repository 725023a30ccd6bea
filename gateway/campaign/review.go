package campaign

import "context"

// Messages calls fn for every message of campaign id, oldest first, for
// message review. Organisers only.
func (s *Service) Messages(ctx context.Context, a Actor, id string, fn func(*Message) error) error {
	if err := organiser(a); err != nil {
		return err
	}
	if _, err := s.st.Campaign(ctx, id); err != nil {
		return err
	}
	return s.st.CampaignMessages(ctx, id, 0, fn)
}
